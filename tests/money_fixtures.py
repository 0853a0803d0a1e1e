"""Fixtures for the money and state tests: a Redis server, stores, a fake paid provider.

Registered with ``pytest_plugins = ["tests.money_fixtures"]`` in the test
modules that use them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from router.state import MemoryStore, StateStore
from router.state.sqlite import SQLiteStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_base_url() -> Iterator[str]:
    """A Redis 7 server: the one on 127.0.0.1:6379 if it answers, else one started here.

    ``LLM_ROUTER_TEST_OWN_REDIS=1`` ignores the shared server (to test the fallback).
    """
    if not os.environ.get("LLM_ROUTER_TEST_OWN_REDIS") and _answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server binary not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if _answers(port):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_base_url: str) -> Iterator[str]:
    """A redis:// URL with a key prefix of its own; its keys are deleted afterwards."""
    import redis

    prefix = f"llm-router-test-{uuid.uuid4().hex[:12]}:"
    yield f"{redis_base_url}?prefix={prefix}"
    client = redis.Redis.from_url(redis_base_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Each backend in turn, empty."""
    s: StateStore
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "state.db")
    else:
        from router.state.redis import RedisStore

        s = RedisStore(request.getfixturevalue("redis_url"))
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "redis"])
def shared_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``state:`` URL several processes can share."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


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
                chars = sum(len(m.get("content") or "") for m in body["messages"])
                prompt = -(-chars // 3) + 5 * len(body["messages"])
                completion = fake.completion(int(body.get("max_tokens") or 16))
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
                    resp["usage"] = {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    }
                data = json.dumps(resp).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A running :class:`FakeProvider`."""
    fp = FakeProvider()
    yield fp
    fp.close()


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
