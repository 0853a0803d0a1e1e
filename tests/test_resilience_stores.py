"""Breakers on every state store backend this checkout has, shared across routers.

Memory always runs; SQLite and Redis run once their stores exist (``open_store``
accepts the URL). Redis gets its own ``redis-server`` on a free port; the
tests skip only when the binary is absent. Real time here (short cooldowns):
these backends expire keys on their own clocks.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from router import Router
from router.config.schema import BreakerConfig
from router.execution.breaker import Breakers, BreakerState
from router.state import open_store
from router.state.base import StateStore
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

CFG = BreakerConfig(failures=2, window_s=30, cooldown_s=0.3)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


def _open(url: str) -> StateStore:
    return open_store(url)


def _wait_for(pred: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_breaker_cycle_on_each_backend(store_url: str) -> None:
    store = _open(store_url)
    try:
        b = Breakers(store)
        name = f"t-{time.monotonic_ns()}"
        assert b.allow(name, CFG) is BreakerState.CLOSED
        b.failure(name, CFG)
        assert b.failure(name, CFG)
        assert b.allow(name, CFG) is None
        _wait_for(lambda: b.state(name) is BreakerState.HALF_OPEN)
        wins: list[BreakerState | None] = []
        barrier = threading.Barrier(8)

        def claim() -> None:
            barrier.wait()
            wins.append(b.allow(name, CFG))

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(BreakerState.HALF_OPEN) == 1
        b.success(name, CFG)
        assert b.state(name) is BreakerState.CLOSED
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_routers_sharing_a_store_share_breakers(
    faults: FaultServer, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("redis_url"))
    )
    _open(url).close()
    cfg = make_config(
        faults,
        [{"name": f"a{backend}"}, {"name": "b"}],
        retry={"attempts": 1},
        breaker={"failures": 2, "cooldown_s": 60},
    )
    cfg["state"] = url
    faults.default(f"a{backend}", Fault.http(503))
    with Router(cfg) as one, Router(cfg) as two:
        run(one, mode="sync", stream=False)
        run(two, mode="sync", stream=False)  # the second failure, seen by another router
        assert Breakers(one.store).state(f"a{backend}") is BreakerState.OPEN
        out = run(one, mode="sync", stream=False)
        assert out.summary() == [("b", "ok", 200, None)]  # the open target is ranked last
    assert faults.count(f"a{backend}") == 2
