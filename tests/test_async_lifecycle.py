"""``async with AsyncRouter`` / ``aclose()``: nothing left behind after 1,000 calls.

Each store (memory, SQLite, Redis) runs with an audit log and a shadowed route,
so every resource an ``AsyncRouter`` may own is live: the executor's httpx
transports, the audit writer's thread, the store's connections and the shadow
tasks. Leaving ``async with`` must end or close every one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from router import AsyncRouter
from router.state.resilient import ResilientStore
from router.state.sqlite import SQLiteStore
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config

pytest_plugins = ["tests.resilience_fixtures"]

N = 1000
BATCH = 50


def _fds() -> set[str]:
    """What every open file descriptor of the process points at."""
    out: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used
            out.add(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
    return out


def _files_under(root: Path) -> list[str]:
    return [
        fd
        for fd in _fds()
        if fd.partition("->")[2].startswith(str(root))  # the db, -wal, -shm, audit, shadow
    ]


def _eventually(cond: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _redis_clients(url: str, name: str) -> int:
    """Connections the Redis server sees under the client name ``name``."""
    import redis

    c = redis.Redis.from_url(url.split("?")[0])
    try:
        return sum(1 for cl in c.client_list() if cl.get("name") == name)
    finally:
        c.close()


def _config(faults: FaultServer, tmp_path: Path, state: str) -> dict[str, Any]:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b", "in_route": False}],
        route={
            "shadow": {
                "model": "b",
                "sample_pct": 100,
                "max_concurrency": 8,
                "log": str(tmp_path / "shadow.jsonl"),
            }
        },
    )
    cfg["state"] = state
    cfg["telemetry"] = {"audit_log": str(tmp_path / "audit.jsonl")}
    return cfg


def _state(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The ``state:`` URL, and for Redis the client name its connections carry."""
    if kind == "memory":
        return "memory", None
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}", None
    url: str = request.getfixturevalue("redis_url")
    name = f"llm-router-lifecycle-{uuid.uuid4().hex[:8]}"
    return f"{url}&client_name={name}", name


async def _calls(r: AsyncRouter, n: int) -> None:
    for start in range(0, n, BATCH):
        replies = await asyncio.gather(
            *(r.chat(MESSAGES, model="r") for _ in range(min(BATCH, n - start)))
        )
        assert all(x.route is not None and x.route.target == "a" for x in replies)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_nothing_is_left_after_a_thousand_calls(
    kind: str, faults: FaultServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    faults.default("a", Fault.ok())
    faults.default("b", Fault.ok())
    state, client_name = _state(kind, tmp_path, request)
    cfg = _config(faults, tmp_path, state)

    # Warm up imports and process-wide machinery (none of it the router's) first.
    async def warm() -> None:
        async with AsyncRouter(_config(faults, tmp_path / "warm", "memory")) as r:
            await _calls(r, 2)

    asyncio.run(warm())
    gc.collect()
    assert _eventually(lambda: faults.open_connections == 0)
    threads0, fds0 = set(threading.enumerate()), _fds()

    async def main() -> None:
        me = asyncio.current_task()
        tasks0 = asyncio.all_tasks() - {me}
        async with AsyncRouter(cfg) as r:
            await _calls(r, N)
            # What the router owns now, to check once it is closed.
            transports = list(r._executor.http.transports().values())
            assert transports, "the calls went through pooled transports"
            assert any(len(t._pool.connections) for t in transports)
            new_threads = set(threading.enumerate()) - threads0
            assert any(t.name.startswith("audit-writer") for t in new_threads)
            store = r.store
            sqlite_conns: list[sqlite3.Connection] = []
            if isinstance(store, SQLiteStore):
                sqlite_conns = list(store._all)
                assert sqlite_conns
            if client_name is not None:
                assert isinstance(store, ResilientStore)
                assert _redis_clients(state, client_name) >= 1, "the name filter sees the router"
        # Left ``async with`` (the router is still referenced: no finalizer helps).
        # The audit writer's thread was joined and the log flushed by aclose().
        assert _eventually(lambda: set(threading.enumerate()) <= threads0, 1.0), (
            f"threads left behind: {set(threading.enumerate()) - threads0}"
        )
        assert len((tmp_path / "audit.jsonl").read_text().splitlines()) >= N
        # Shadows finished, nothing pending but this test.
        assert asyncio.all_tasks() - {me} - tasks0 == set(), "tasks left behind"
        assert r._shadows is not None and not r._shadows._tasks
        # Transports: dropped by the sender, and their connection pools empty.
        assert r._executor.http.transports() == {}
        for t in transports:
            assert t._pool.connections == [], "pooled connections left open"
        for c in sqlite_conns:
            with pytest.raises(sqlite3.ProgrammingError):  # "Cannot operate on a closed database"
                c.execute("SELECT 1")
        if isinstance(store, SQLiteStore):
            assert store._all == []
        if client_name is not None:
            assert _eventually(lambda: _redis_clients(state, client_name) == 0), (
                "Redis connections left open"
            )

    asyncio.run(main())
    primaries = faults.count("a")
    assert primaries == N + 2  # + the warm-up's
    assert faults.count("b") >= 1, "shadows were sent"

    gc.collect()
    assert _eventually(lambda: faults.open_connections == 0), "sockets left open"
    assert _eventually(lambda: set(threading.enumerate()) <= threads0), (
        f"threads left behind: {set(threading.enumerate()) - threads0}"
    )
    assert _files_under(tmp_path) == [], "files (db, wal, audit, shadow log) left open"
    assert _eventually(lambda: _fds() - fds0 == set()), f"descriptors left: {_fds() - fds0}"


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_aclose_twice_is_harmless_and_a_closed_router_reopens_on_use(
    kind: str, faults: FaultServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Pins today's behaviour: ``aclose()`` is idempotent, and a call after it
    works by reopening what it needs (transport, store connection, audit writer)
    — which the next ``aclose()`` releases again. Shadows stay off once closed."""
    faults.default("a", Fault.ok())
    faults.default("b", Fault.ok())
    state, client_name = _state(kind, tmp_path, request)
    threads0 = set(threading.enumerate())
    audit = tmp_path / "audit.jsonl"
    r = AsyncRouter(_config(faults, tmp_path, state))
    await _calls(r, 4)
    await r.aclose()
    await r.aclose()  # a second close finds nothing to do and raises nothing
    assert set(threading.enumerate()) <= threads0
    assert r._executor.http.transports() == {}
    records, shadows = len(audit.read_text().splitlines()), faults.count("b")

    reply = await r.chat(MESSAGES, model="r")  # reopens: no error
    assert reply.route is not None and reply.route.target == "a"
    assert set(r._executor.http.transports()) == {"a"}
    assert any(t.name.startswith("audit-writer") for t in threading.enumerate())
    assert asyncio.all_tasks() == {asyncio.current_task()}, "no shadow after close"

    await r.aclose()  # releases what the call reopened
    assert faults.count("b") == shadows
    assert len(audit.read_text().splitlines()) == records + 1
    assert set(threading.enumerate()) <= threads0
    assert r._executor.http.transports() == {}
    if isinstance(r.store, SQLiteStore):
        assert r.store._all == []
    if client_name is not None:
        assert _eventually(lambda: _redis_clients(state, client_name) == 0)
    assert _files_under(tmp_path) == []
