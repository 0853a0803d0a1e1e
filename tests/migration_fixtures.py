"""A tiny fault-injecting OpenAI-compatible server on 127.0.0.1, and config builders.

Each :class:`FakeServer` answers ``POST /v1/chat/completions`` with ``reply``
or, while ``fail`` is set, with HTTP 500; ``gate`` (an Event) holds every
answer until it is set, so a test can prove something did not wait for it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeServer:
    """One local OpenAI-compatible endpoint whose behaviour a test changes at will."""

    def __init__(self, reply: str = "Paris is the capital of France.") -> None:
        self.reply = reply
        self.fail = False
        self.gate: threading.Event | None = None
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                with server.lock:
                    server.bodies.append(body)
                if server.gate is not None:
                    server.gate.wait(30)
                if server.fail:
                    payload = {"error": {"message": "injected fault", "type": "server_error"}}
                    self._send(500, payload)
                    return
                words = len(server.reply.split())
                if body.get("stream"):
                    self._stream(body.get("model", "m"))
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-x",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body.get("model", "m"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": server.reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 10,
                            "completion_tokens": words,
                            "total_tokens": 10 + words,
                        },
                    },
                )

            def _stream(self, model: str) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                base = {
                    "id": "chatcmpl-s",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                }
                parts = [w + " " for w in server.reply.split()]
                for i, part in enumerate(parts):
                    last = i == len(parts) - 1
                    chunk = {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"content": part},
                                "finish_reason": "stop" if last else None,
                            }
                        ],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """The server's /v1 base URL."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        """Requests received so far."""
        with self.lock:
            return len(self.bodies)

    def close(self) -> None:
        """Release any held request and stop serving."""
        if self.gate is not None:
            self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def paid() -> Iterator[FakeServer]:
    """The incumbent paid API (zone frontier)."""
    s = FakeServer("Paris is the capital of France.")
    yield s
    s.close()


@pytest.fixture
def local() -> Iterator[FakeServer]:
    """The self-hosted newcomer (zone local)."""
    s = FakeServer("The capital of France is Paris.")
    yield s
    s.close()


def migration_config(paid_url: str, local_url: str, **route: Any) -> dict[str, Any]:
    """``gpt`` (frontier, priced) and ``llama`` (local, free) behind route ``support``."""
    return {
        "providers": {
            "openai": {"kind": "vllm", "base_url": paid_url, "zone": "frontier"},
            "gpu": {"kind": "vllm", "base_url": local_url, "zone": "local"},
        },
        "models": {
            "gpt": {"provider": "openai", "model": "gpt-x", "price": {"input": 2, "output": 8}},
            "llama": {"provider": "gpu", "model": "llama-x"},
        },
        "routes": {
            "support": {
                "split": [{"model": "llama", "weight": 20}, {"model": "gpt", "weight": 80}],
                "sticky_by": "user",
                **route,
            }
        },
    }


ASK = [{"role": "user", "content": "What is the capital of France?"}]
