"""A tiny OpenAI-compatible server on 127.0.0.1 for the tracing examples.

``/flaky/v1`` always answers 503 (to show a fallback), ``/ok/v1`` answers
every chat completion (streamed or not) with a fixed text and usage.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["serve"]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the example's output readable
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.startswith("/flaky/"):
            self._json(503, {"error": {"message": "overloaded", "type": "server_error"}})
            return
        model = body.get("model", "demo")
        text = "Hello from a local server."
        usage = {"prompt_tokens": 14, "completion_tokens": 6, "total_tokens": 20}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for i, word in enumerate(text.split(" ")):
                delta = {"content": (" " if i else "") + word}
                self._event({"model": model, "choices": [{"index": 0, "delta": delta}]})
            self._event(
                {"model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            )
            self._event({"model": model, "choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
            return
        self._json(
            200,
            {
                "id": "chatcmpl-local",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def _event(self, obj: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve() -> tuple[ThreadingHTTPServer, str]:
    """Start the server on a free port; returns it and its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def config(base: str, **telemetry: Any) -> dict[str, Any]:
    """A route whose first target always fails over to the second."""
    return {
        "providers": {
            "flaky": {"kind": "openai_compatible", "base_url": f"{base}/flaky/v1", "zone": "local"},
            "box": {"kind": "vllm", "base_url": f"{base}/ok/v1", "zone": "local"},
        },
        "models": {
            "first": {"provider": "flaky", "model": "demo-a"},
            "second": {
                "provider": "box",
                "model": "demo-b",
                "price": {"input": 0.5, "output": 1.5},
            },
        },
        "routes": {"default": {"candidates": ["first", "second"]}},
        "telemetry": {"enabled": True, **telemetry},
    }
