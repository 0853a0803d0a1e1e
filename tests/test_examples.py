"""Every example script runs to completion (against local servers or the embedded model)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# _name.py files are shared helpers; tracing_otlp needs a collector (tested on its own below).
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("[!_]*.py") if p.name != "tracing_otlp.py")


@pytest.mark.real_server
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, model_path: Path) -> None:
    env = {**os.environ, "LLM_ROUTER_EMBEDDED_MODEL": str(model_path)}
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=ROOT,
    )
    assert out.returncode == 0, f"{script.name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    assert out.stdout.strip(), f"{script.name} printed nothing"


def test_otlp_example_exports_to_a_local_collector(tmp_path: Path) -> None:
    """A stand-in OTLP/HTTP collector on 127.0.0.1 receives the example's spans and metrics."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    received: list[tuple[str, int]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((self.path, len(body)))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "OTLP_PORT": str(server.server_address[1])}
        out = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "tracing_otlp.py")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr[-3000:]
    paths = {p for p, size in received if size > 0}
    assert {"/v1/traces", "/v1/metrics"} <= paths, received
