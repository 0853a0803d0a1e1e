"""Any application, through the gateway: the openai SDK against ``llm-router serve``.

Run: ``python examples/gateway_client.py`` (needs ``pip install 'llm-policy-router[gateway]'
openai``). A tiny OpenAI-compatible server on 127.0.0.1 stands in for both the
on-prem vLLM and the cloud provider of ``examples/gateway.yaml`` (nothing
leaves the machine); the gateway runs as ``llm-router serve`` would in
production, and is stopped with SIGTERM at the end.

It shows a routed answer with its ``x-router-*`` headers, a stream, a
confidential key that a request header cannot loosen, and a wrong key.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    import httpx
    import openai
except ImportError:
    sys.exit("this example needs the openai SDK: pip install openai")

from _local_openai import serve

HERE = Path(__file__).resolve().parent
CLINIC_KEY = "clinic-demo-key-0123456789"  # its sha256 is in gateway.yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "router.cli", "serve", str(HERE / "gateway.yaml")]
    proc = subprocess.Popen([*cmd, "--port", str(port), "--log-level", "warning"], env=env)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the gateway did not start")


def main() -> None:
    upstream, base = serve()
    analytics_key = "gk-" + secrets.token_hex(16)
    audit = Path(tempfile.mkdtemp()) / "audit.jsonl"
    env = {
        **os.environ,
        "ONPREM_BASE_URL": f"{base}/ok/v1",
        "CLOUD_BASE_URL": f"{base}/ok/v1",  # a stand-in: nothing goes to a real provider
        "GATEWAY_KEY_ANALYTICS": analytics_key,
        "AUDIT_LOG": str(audit),
        "PYTHONPATH": str(HERE.parent),
    }
    port = free_port()
    gateway = start_gateway(env, port)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        client = openai.OpenAI(base_url=url, api_key=analytics_key, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="assistant", messages=[{"role": "user", "content": "Quarterly summary, please."}]
        )
        answer = raw.parse()
        print("analytics:", answer.choices[0].message.content)
        h = raw.headers
        print(f"  routed to {h['x-router-target']} (zone {h['x-router-zone']}),", end=" ")
        print(f"cost ${h['x-router-cost-usd']}, decision {h['x-router-decision-id']}")
        stream = client.chat.completions.create(
            model="assistant",
            messages=[{"role": "user", "content": "Stream it."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts, usage = [], None
        for chunk in stream:
            parts.extend(c.delta.content or "" for c in chunk.choices)
            usage = chunk.usage or usage
        print("streamed:", "".join(parts), f"({usage.total_tokens if usage else '?'} tokens)")

        # The clinic key's floor is confidential: a header asking for "public" cannot lower it.
        clinic = openai.OpenAI(
            base_url=url,
            api_key=CLINIC_KEY,
            max_retries=0,
            default_headers={"x-router-sensitivity": "public"},
        )
        raw = clinic.chat.completions.with_raw_response.create(
            model="assistant", messages=[{"role": "user", "content": "Patient 4411's notes."}]
        )
        h = raw.headers
        print(f"clinic: routed to {h['x-router-target']} (zone {h['x-router-zone']})")

        try:
            openai.OpenAI(base_url=url, api_key="not-a-key", max_retries=0).models.list()
        except openai.AuthenticationError as e:
            print(
                "wrong key:",
                e.status_code,
                e.body["message"] if isinstance(e.body, dict) else e.body,
            )
        print("models for clinic:", [m.id for m in clinic.models.list()])
    finally:
        gateway.send_signal(signal.SIGTERM)
        print("gateway exited with", gateway.wait(30))
        upstream.shutdown()
    print("audit records:", len(audit.read_text().splitlines()))


if __name__ == "__main__":
    main()
