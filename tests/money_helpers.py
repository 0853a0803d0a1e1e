"""Helpers for the money and state tests: a fake paid provider, configs, ports."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _QuietServer(ThreadingHTTPServer):
    """Tests close streams early on purpose: a client gone mid-reply is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeProvider:
    """A tiny OpenAI-compatible server on 127.0.0.1 that reports usage.

    ``prompt_tokens`` is what a tokenizer would plausibly count (ceil(chars/3)
    + 5 per message: more than the fast estimate, less than the bound);
    ``completion_tokens`` is ``max_tokens`` (the worst case) unless
    ``completion`` says otherwise; ``usage=False`` omits usage.
    """

    def __init__(self) -> None:
        self.completion: Callable[[int], int] = lambda max_tokens: max_tokens
        self.usage = True
        self.delay_s = 0.0
        self.status = 200
        self.requests = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests += 1
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fake.status != 200:
                    err = json.dumps({"error": {"message": "boom", "type": "server_error"}})
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(err)))
                    self.end_headers()
                    self.wfile.write(err.encode())
                    return
                chars = sum(len(m.get("content") or "") for m in body["messages"])
                prompt = -(-chars // 3) + 5 * len(body["messages"])
                completion = fake.completion(int(body.get("max_tokens") or 16))
                usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
                if body.get("stream"):
                    self._stream(body, completion, usage)
                    return
                resp: dict[str, Any] = {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "ok " * completion},
                            "finish_reason": "stop",
                        }
                    ],
                }
                if fake.usage:
                    resp["usage"] = usage
                data = json.dumps(resp).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], completion: int, usage: Any) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                base = {"id": "c", "object": "chat.completion.chunk", "model": body["model"]}
                events = [
                    {**base, "choices": [{"index": 0, "delta": {"content": "ok "}}]}
                    for _ in range(completion)
                ]
                events.append(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                )
                if fake.usage:
                    events.append({**base, "choices": [], "usage": usage})
                for e in events:
                    self.wfile.write(b"data: " + json.dumps(e).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def money_config(base_url: str, state: str = "memory", **extra: Any) -> dict[str, Any]:
    """A config with a paid target ``paid`` ($1000/$2000 per M tokens: big numbers, small
    budgets) and a zero-marginal-cost target ``local`` on the same fake server."""
    cfg: dict[str, Any] = {
        "providers": {
            "paid-api": {"kind": "openai_compatible", "base_url": base_url, "zone": "frontier"},
            "gpu-box": {"kind": "openai_compatible", "base_url": base_url, "zone": "local"},
        },
        "models": {
            "paid": {
                "provider": "paid-api",
                "model": "paid-model",
                "price": {"input": 1000, "output": 2000},
            },
            "local": {
                "provider": "gpu-box",
                "model": "local-model",
                "cost": {"gpu_hour_usd": 3.6, "tokens_per_second": 1000},
            },
        },
        "routes": {
            "default": {"candidates": ["paid"], "max_tokens": 10},
            "mixed": {"candidates": ["paid", "local"], "max_tokens": 10},
        },
        "state": state,
    }
    cfg.update(extra)
    return cfg
