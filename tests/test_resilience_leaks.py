"""No leaked sockets, threads or pooled connections after 1,000 faulty requests."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

from router import AsyncRouter, Router
from router.errors import ProviderError
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config

pytest_plugins = ["tests.resilience_fixtures"]

N = 1000
MIX = [
    Fault.http(500),
    Fault.reset(),
    Fault.cut(after=0),
    Fault.malformed(),
    Fault.stream_error(after=0),
    Fault.wrong_type(),
    Fault.rate_limit(ms=0),
    Fault.ok(),
    Fault.cut(after=1),
    Fault.http(529),
]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _pool_size(transport: Any) -> int:
    pool = transport._pool
    return len(pool.connections)


def _sync_requests(cfg: dict[str, Any], n: int) -> int:
    errors = 0
    with Router(cfg) as r:
        for i in range(n):
            try:
                if i % 2:
                    with r.stream(MESSAGES, model="r") as s:
                        for _ in s:
                            pass
                else:
                    r.chat(MESSAGES, model="r")
            except ProviderError:
                errors += 1
            if i % 100 == 99:
                for c in r._executor.http.transports().values():
                    assert _pool_size(c) <= 4  # kept alive, reused: no growth
    return errors


async def _async_requests(cfg: dict[str, Any], n: int) -> int:
    errors = 0
    async with AsyncRouter(cfg) as r:
        for i in range(n):
            try:
                if i % 2:
                    async with r.stream(MESSAGES, model="r") as s:
                        async for _ in s:
                            pass
                else:
                    await r.chat(MESSAGES, model="r")
            except ProviderError:
                errors += 1
        for c in r._executor.http.transports().values():
            assert _pool_size(c) <= 4
    return errors


def test_no_leaks_after_a_thousand_faulty_requests(faults: FaultServer) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        retry={"attempts": 2, "backoff": {"initial_s": 0}},
    )
    # Warm up imports and lazily created machinery before counting.
    faults.default("a", Fault.http(500))
    _sync_requests(cfg, 2)
    asyncio.run(_async_requests(cfg, 2))
    gc.collect()
    threads0, fds0 = set(threading.enumerate()), _fds()

    for t in ("a", "b"):
        faults.default(t, Fault.http(503))
    for i in range(N * 4):  # plenty of scripted faults for both targets
        faults.script("a" if i % 2 else "b", MIX[i % len(MIX)])
    errors = _sync_requests(cfg, N // 2)
    errors += asyncio.run(_async_requests(cfg, N // 2))
    received = len(faults.records())

    gc.collect()
    deadline = time.monotonic() + 5
    while faults.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices closed sockets asynchronously
    assert received >= N
    assert errors > 0, "the mix must make requests fail"
    assert faults.open_connections == 0
    assert set(threading.enumerate()) - threads0 == set(), "threads left behind"
    assert _fds() <= fds0
