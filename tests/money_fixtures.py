"""Fixtures for the money and state tests: a Redis server, stores, a fake paid provider.

Registered with ``pytest_plugins = ["tests.money_fixtures"]`` in the test
modules that use them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.state import MemoryStore, StateStore
from router.state.sqlite import SQLiteStore
from tests.money_helpers import FakeProvider, free_port


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


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
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


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def shared_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``state:`` URL several processes can share."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A running :class:`FakeProvider`."""
    fp = FakeProvider()
    yield fp
    fp.close()
