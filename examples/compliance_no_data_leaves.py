"""Compliance: "confidential data never leaves our infrastructure", proven and explained.

Run:  python examples/compliance_no_data_leaves.py

Two targets: SmolLM2 embedded in this process (zone ``local``) and a
"frontier" API - played here by a tiny recording server on 127.0.0.1, so
nothing leaves the machine. One five-line rule keeps confidential requests
home. The script shows the decision for a harmless and for a confidential
request, sends both, and checks from the recording server's side that the
confidential text never reached it. It also runs the shipped policy tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from router import NoEligibleTarget, Router
from router.config.defaults import default_config

ROOT = Path(__file__).resolve().parent.parent
RECEIVED: list[str] = []


class FrontierStub(BaseHTTPRequestHandler):
    """Answers like an OpenAI-compatible API and records every body it receives."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        RECEIVED.append(body.decode())
        reply = {
            "id": "stub-1",
            "object": "chat.completion",
            "created": 0,
            "model": "frontier-stub",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def config(port: int) -> dict[str, Any]:
    cfg = default_config()  # the embedded SmolLM2, zone local
    cfg["providers"]["frontier"] = {
        "kind": "openai_compatible",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "api_key": "sk-example-not-a-real-key",
        "zone": "frontier",
    }
    cfg["models"]["frontier-model"] = {
        "provider": "frontier",
        "model": "gpt-4.1-mini",
        "price": {"input": 0.4, "output": 1.6},
    }
    # The compliance rule - five lines of YAML in a config file:
    #   rules:
    #     - name: confidential-stays-home
    #       when: {sensitivity: ">= confidential"}
    #       allow: {zone: [local]}
    cfg["rules"] = [
        {
            "name": "confidential-stays-home",
            "when": {"sensitivity": ">= confidential"},
            "allow": {"zone": ["local"]},
        }
    ]
    cfg["routes"] = {"default": {"candidates": ["frontier-model", "smollm2"], "max_tokens": 24}}
    return cfg


SSN = "536-22-1234"
# 4111 1111 1111 1111 in full-width digits (U+FF10..U+FF19).
FULL_WIDTH_CARD = "4111 1111 1111 1111".translate({c: c + 0xFEE0 for c in range(48, 58)})
ASK = {"role": "user", "content": "Summarise the ticket."}
DISGUISED: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    (
        "card in full-width digits",
        [
            {
                "role": "user",
                "content": FULL_WIDTH_CARD,
            }
        ],
        {},
    ),
    (
        "SSN with en dashes and a zero-width space",
        [{"role": "user", "content": "536\u201322\u2013\u200b1234"}],
        {},
    ),
    (
        "SSN split across two text parts",
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "SSN 536-22-"},
                    {"type": "text", "text": "1234"},
                ],
            }
        ],
        {},
    ),
    (
        "email escaped inside tool-call arguments",
        [
            ASK,
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {
                            "name": "mail",
                            "arguments": '{"to": "jane\\u0040example.com"}',
                        },
                    }
                ],
            },
        ],
        {},
    ),
    (
        "SSN in a tool's description",
        [ASK],
        {
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "lookup", "description": f"default {SSN}"},
                }
            ]
        },
    ),
    (
        "API key glued to a variable name",
        [{"role": "user", "content": "OPENAI_KEY=sk-abcdefghijklmnopqrstuvwx12"}],
        {},
    ),
    (
        "email in the image URL's query string",
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://cdn.test/a.png?u=jane%40example.com"},
                    }
                ],
            }
        ],
        {},
    ),
]


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FrontierStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    public = [{"role": "user", "content": "What is the capital of France?"}]
    secret = [{"role": "user", "content": "Reply to jane.doe@example.com about invoice 1182."}]
    try:
        with Router.from_dict(config(server.server_address[1])) as router:
            print("== harmless request ==")
            print(router.explain(public).explain())
            resp = router.chat(public, temperature=0)
            assert resp.route is not None
            print(f"-> answered by {resp.route.target} (zone {resp.route.zone})\n")

            print("== confidential request (an email address is detected) ==")
            decision = router.explain(secret)
            print(decision.explain())
            assert decision.target_names == ("smollm2",), decision.target_names
            resp = router.chat(secret, temperature=0)
            assert resp.route is not None and resp.route.zone == "local"
            print(f"-> answered by {resp.route.target} (zone {resp.route.zone})")

            print("\n== disguised, split and tucked-away confidential data ==")
            for what, messages, params in DISGUISED:
                try:
                    decision = router.explain(messages, **params)
                except NoEligibleTarget as refused:
                    # Tools and images need a model that takes them; the local one does not, so
                    # the request is refused rather than sent to the frontier.
                    assert refused.decision.sensitivity.level == "confidential", what
                    print(f"{what:48s} -> refused (no local target can take it)")
                    continue
                print(f"{what:48s} -> {', '.join(decision.target_names)}")
                assert decision.target_names == ("smollm2",), what
    finally:
        server.shutdown()

    leaked = [body for body in RECEIVED if "jane.doe@example.com" in body]
    print(
        f"\nfrontier received {len(RECEIVED)} request(s); with the confidential text: {len(leaked)}"
    )
    assert len(RECEIVED) == 1 and not leaked

    print("\n== the shipped policy and its tests ==")
    policy = ROOT / "policies" / "no-data-leaves-infra.yaml"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "router.cli",
            "test",
            str(policy),
            str(policy.with_suffix(".test.yaml")),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    print(out.stdout.strip())
    assert out.returncode == 0, out.stderr


if __name__ == "__main__":
    main()
