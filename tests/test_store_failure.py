"""The store failing: Redis stopped and restarted under load, sync and async.

A real ``redis-server`` of this module's own (with a password, so the tests
also check that it never reaches a log or an error) is shut down mid-traffic
and started again on the same port. While it is down, calls under no budget
go on with breakers and health in process memory (one warning), calls under
a budget are refused with :class:`StateUnavailable` before anything is sent;
once it is back, everything recovers by itself ("reachable again", once).

The :class:`Failover` policy itself is also checked without a server, on a
store that fails on command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from router import AsyncRouter, Router
from router.errors import RouterError, StateUnavailable
from router.execution.breaker import Breakers, BreakerState
from router.state import BudgetCharge, MemoryStore, open_async_store, open_store
from router.state.aio.resilient import AsyncResilientStore
from router.state.resilient import Failover, ResilientStore
from tests.money_helpers import FakeProvider, free_port

LOGGER = "router.state.resilient"
PASSWORD = "s3cret-redis-pw"
HI = [{"role": "user", "content": "hi"}]
PAID = {"model": "paid", "context": {"tenant": "team-a"}}


# -- a redis-server of our own, stopped and restarted on one port ----------------------------


class RedisProcess:
    """A ``redis-server`` on 127.0.0.1:``port`` without persistence, behind a password."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary, self.port = binary, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        self.url = f"{self.base}?prefix=store-failure:"

    def _send(self, *commands: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall("".join(f"{c}\r\n" for c in (f"AUTH {PASSWORD}", *commands)).encode())
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    def answers(self) -> bool:
        try:
            return b"+PONG" in self._send("PING")
        except OSError:
            return False

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--requirepass", PASSWORD]
        self.proc = subprocess.Popen(
            [self.binary, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """``SHUTDOWN NOSAVE``, as an operator would; terminate if that does not do it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with suppress(OSError):
            self._send("SHUTDOWN NOSAVE")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)

    def clients(self) -> int:
        """Connected clients other than the one asking."""
        info = self._send("INFO clients").decode()
        line = next(x for x in info.splitlines() if x.startswith("connected_clients:"))
        return int(line.split(":")[1]) - 1


@pytest.fixture
def redis_proc() -> Iterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        # As tests/conftest.py's fixtures: CI must run every test, not skip it.
        if os.environ.get("CI"):
            pytest.fail("required for CI but unavailable: redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisProcess(binary, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.01)


async def off_loop(fn: Callable[[], None]) -> None:
    """``fn`` on a thread of its own, joined before returning (no pool thread left behind)."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:
            failed.append(e)

    t = threading.Thread(target=run, name="redis-control")
    t.start()
    while t.is_alive():
        await asyncio.sleep(0.01)
    t.join()
    if failed:
        raise failed[0]


async def await_for(cond: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


def store_logs(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """The "unreachable" and "reachable again" messages of the resilient store."""
    msgs = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    down = [m for m in msgs if "unreachable" in m]
    up = [m for m in msgs if "reachable again" in m]
    assert len(down) + len(up) == len(msgs), msgs
    return down, up


def no_secret_anywhere(caplog: pytest.LogCaptureFixture, *errors: BaseException) -> None:
    for rec in caplog.records:
        assert PASSWORD not in rec.getMessage()
    for e in errors:
        assert PASSWORD not in str(e) and PASSWORD not in repr(e)


class Providers:
    """``free`` and ``flaky`` (no budget) and ``paid`` (under a budget), each its own server."""

    def __init__(self) -> None:
        self.free, self.flaky, self.paid = FakeProvider(), FakeProvider(), FakeProvider()
        self.flaky.status = 500

    def config(self, state: str) -> dict[str, Any]:
        def provider(fp: FakeProvider, **kw: Any) -> dict[str, Any]:
            return {"kind": "openai_compatible", "base_url": fp.base_url, **kw}

        price = {"input": 1.0, "output": 2.0}
        return {
            "providers": {
                "free-api": provider(self.free),
                # Always 500: its breaker opens after 2 failures, in whatever store is live.
                "flaky-api": provider(
                    self.flaky,
                    retry={"attempts": 1},
                    breaker={"failures": 2, "cooldown_s": 60},
                ),
                "paid-api": provider(self.paid),
            },
            "models": {
                "free": {"provider": "free-api", "model": "free-model", "price": price},
                "flaky": {"provider": "flaky-api", "model": "flaky-model", "price": price},
                "paid": {"provider": "paid-api", "model": "paid-model", "price": price},
            },
            "routes": {
                "default": {"candidates": ["flaky", "free"], "max_tokens": 10},
                "paid": {"candidates": ["paid"], "max_tokens": 10},
            },
            "rules": [
                {
                    "name": "paid-daily",
                    "when": {"route": "paid"},
                    "budget": {"usd": 10.0, "per": "day", "key": "tenant"},
                }
            ],
            "state": state,
        }

    def close(self) -> None:
        for fp in (self.free, self.flaky, self.paid):
            fp.close()


@contextmanager
def load(call: Callable[[], object], workers: int = 3) -> Iterator[dict[str, Any]]:
    """``call`` in a loop on ``workers`` threads; yields counters and errors."""
    stop = threading.Event()
    out: dict[str, Any] = {"ok": 0, "errors": []}
    lock = threading.Lock()

    def run() -> None:
        while not stop.is_set():
            try:
                call()
            except Exception as e:
                with lock:
                    out["errors"].append(e)
            else:
                with lock:
                    out["ok"] += 1

    threads = [threading.Thread(target=run, name=f"load-{i}") for i in range(workers)]
    for t in threads:
        t.start()
    try:
        yield out
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)


def breaker_in_redis(url: str) -> BreakerState:
    bare = open_store(url, resilient=False)
    try:
        return Breakers(bare).state("flaky")
    finally:
        bare.close()


def no_threads_left(before: set[threading.Thread]) -> None:
    def left() -> list[str]:
        return [t.name for t in threading.enumerate() if t not in before]

    try:
        wait_for(lambda: not left(), 5, "threads")
    except AssertionError:
        raise AssertionError(f"threads left: {left()}") from None


# -- sync: a Router under load --------------------------------------------------------------


@pytest.mark.redis
def test_router_rides_out_a_redis_restart(
    redis_proc: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    threads_before = set(threading.enumerate())
    fps = Providers()
    r = Router.from_dict(fps.config(redis_proc.url))
    store = r.store
    assert isinstance(store, ResilientStore)
    refusals: list[StateUnavailable] = []
    try:
        # Up: shared state in Redis, budgets enforced there.
        r.chat(HI)
        r.chat(HI)
        r.chat(HI, **PAID)
        assert breaker_in_redis(redis_proc.url) is BreakerState.OPEN
        assert fps.flaky.requests == 2 and fps.paid.requests == 1

        with load(lambda: r.chat(HI)) as stats:
            wait_for(lambda: stats["ok"] > 20, what="load")
            redis_proc.stop()
            # Calls under no budget go on: breakers and health in process memory.
            wait_for(lambda: store.degraded, what="degraded")
            ok_at_stop = stats["ok"]
            wait_for(lambda: stats["ok"] > ok_at_stop + 30, what="calls while Redis is down")
            # The breaker restarted from nothing in memory, and opened there.
            flaky = fps.flaky.requests
            assert 2 < flaky <= 2 + 2 + 3  # its 2 failures (+ calls in flight)
            ok_now = stats["ok"]
            wait_for(lambda: stats["ok"] > ok_now + 30, what="more calls")
            assert fps.flaky.requests == flaky

            # Calls under a budget are refused, fast, and nothing is sent for them.
            t0 = time.monotonic()
            for _ in range(20):
                with pytest.raises(StateUnavailable) as ei:
                    r.chat(HI, **PAID)
                refusals.append(ei.value)
            assert time.monotonic() - t0 < 1.0
            assert fps.paid.requests == 1
            e = refusals[-1]
            assert isinstance(e, RouterError) and e.operation == "budget_reserve"
            assert "budget cannot be enforced" in str(e) and "unreachable" in str(e)
            assert f"127.0.0.1:{redis_proc.port}" in str(e) and e.store is not None

            # Back on the same port: recovers by itself, under the same load.
            redis_proc.start()
            wait_for(lambda: not store.degraded, what="recovery")
            ok_back = stats["ok"]
            wait_for(lambda: stats["ok"] > ok_back + 30, what="calls after recovery")

        assert stats["errors"] == []
        r.chat(HI, **PAID)  # budgets work again
        assert fps.paid.requests == 2
        assert breaker_in_redis(redis_proc.url) is BreakerState.OPEN  # shared again
        charge = [rec for rec in _ledger(store) if rec.get("target") == "paid"]
        assert len(charge) == 1 and charge[0]["budgets"]  # recorded in the restarted Redis

        down, up = store_logs(caplog)
        assert len(down) == 1 and len(up) == 1
        assert f"127.0.0.1:{redis_proc.port}" in down[0]
        no_secret_anywhere(caplog, *refusals)
    finally:
        r.close()
        store.close()
        fps.close()
    assert redis_proc.clients() == 0  # no connection left
    no_threads_left(threads_before)


def _ledger(store: ResilientStore) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in store.ledger_read()]


# -- async: an AsyncRouter, and the async store directly ------------------------------------


@pytest.mark.redis
async def test_async_router_rides_out_a_redis_restart(
    redis_proc: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    threads_before = set(threading.enumerate())
    fps = Providers()
    r = AsyncRouter.from_dict(fps.config(redis_proc.url))
    # Every call's state steps are awaited on the async store (redis.asyncio).
    store = r.async_store
    assert isinstance(store, AsyncResilientStore)
    stats: dict[str, Any] = {"ok": 0, "errors": []}
    stop = asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            try:
                await r.chat(HI)
            except Exception as e:
                stats["errors"].append(e)
            else:
                stats["ok"] += 1

    try:
        await r.chat(HI, **PAID)
        tasks = [asyncio.create_task(worker()) for _ in range(4)]
        await await_for(lambda: stats["ok"] > 20, what="load")
        await off_loop(redis_proc.stop)
        await await_for(lambda: store.degraded, what="degraded")
        ok_at_stop = stats["ok"]
        await await_for(lambda: stats["ok"] > ok_at_stop + 30, what="calls while down")
        with pytest.raises(StateUnavailable, match="budget cannot be enforced") as ei:
            await r.chat(HI, **PAID)
        assert fps.paid.requests == 1

        await off_loop(redis_proc.start)
        await await_for(lambda: not store.degraded, what="recovery")
        ok_back = stats["ok"]
        await await_for(lambda: stats["ok"] > ok_back + 30, what="calls after recovery")
        stop.set()
        await asyncio.gather(*tasks)
        assert stats["errors"] == []
        await r.chat(HI, **PAID)
        assert fps.paid.requests == 2

        down, up = store_logs(caplog)
        assert len(down) == 1 and len(up) == 1
        no_secret_anywhere(caplog, ei.value)
    finally:
        stop.set()
        await r.aclose()
        fps.close()
    assert store.closed
    assert redis_proc.clients() == 0
    no_threads_left(threads_before)


@pytest.mark.redis
async def test_async_resilient_store_over_async_redis(
    redis_proc: RedisProcess, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    store = open_async_store(redis_proc.url)
    assert isinstance(store, AsyncResilientStore)
    store.failover.retry_s = 0.3
    inner = store.inner
    w = [BudgetCharge("w", 1.0, time.time() + 3600)]
    now = time.time()
    try:
        await store.set("k", "shared")
        assert (await store.budget_reserve("r1", w, 0.1, now=now, hold_s=60)).ok

        await off_loop(redis_proc.stop)
        # Key/value: served from a fresh process memory, one warning however many tasks.
        results = await asyncio.gather(*(store.incr("n") for _ in range(100)))
        assert sorted(results) == [float(i) for i in range(1, 101)]
        assert await store.get("k") is None
        await store.set("k", "memory")
        assert await store.get("k") == "memory"
        # Money: refused at once, without asking Redis again within retry_s.
        reserves = 0
        real = inner.budget_reserve

        async def counting(*a: Any, **kw: Any) -> Any:
            nonlocal reserves
            reserves += 1
            return await real(*a, **kw)

        monkeypatch.setattr(inner, "budget_reserve", counting)
        errors = await asyncio.gather(
            *(store.budget_reserve(f"x{i}", w, 0.1, now=now, hold_s=60) for i in range(50)),
            store.ledger_append("{}", ts=now),
            return_exceptions=True,
        )
        assert all(isinstance(e, StateUnavailable) for e in errors)
        assert reserves == 0
        assert "ledger cannot be read or written" in str(errors[-1])

        await off_loop(redis_proc.start)
        side = open_store(redis_proc.url, resilient=False)
        side.set("k", "restarted")  # what Redis holds now (it came back empty)
        side.close()
        await asyncio.sleep(0.35)
        assert await store.get("k") == "restarted"  # memory discarded, Redis again
        assert not store.degraded
        assert (await store.budget_reserve("r2", w, 0.1, now=now, hold_s=60)).ok
        assert reserves == 1

        down, up = store_logs(caplog)
        assert len(down) == 1 and len(up) == 1
        no_secret_anywhere(caplog, *errors)
    finally:
        await store.aclose()
    assert inner.closed and redis_proc.clients() == 0


# -- the policy, on a store that fails on command ----------------------------------------------


class Flaky(MemoryStore):
    """A MemoryStore that raises ``error`` from every operation while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.error: Exception = ConnectionError("connection refused")
        self.calls = 0

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in _OPS:
            self.calls += 1
            if self.down:
                raise self.error
        return attr


_OPS = {
    "get", "set", "set_if_absent", "incr", "delete", "budget_reserve", "budget_commit",
    "budget_release", "budget_usage", "ledger_append", "ledger_read", "limit_acquire",
    "limit_release", "admit",
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_one_warning_per_outage_under_concurrency(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    inner, clock = Flaky(), Clock()
    store = ResilientStore(inner, name="redis://cache:6379/0", clock=clock)
    store.set("a", "1")
    inner.down = True

    def hammer() -> None:
        for _ in range(200):
            store.incr("n")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert float(store.get("n") or 0) == 1600.0
    down, up = store_logs(caplog)
    assert len(down) == 1 and not up and "redis://cache:6379/0" in down[0]


def test_limits_fall_back_to_per_process_limits_while_the_store_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unlike budgets, a limit keeps calls going during an outage: each process counts
    it on its own (logged once), and the shared count is used again on recovery."""
    from router.state.base import LimitCharge

    caplog.set_level(logging.WARNING)
    inner, clock = Flaky(), Clock()
    store = ResilientStore(inner, name="redis://cache:6379/0", clock=clock)
    rpm = [LimitCharge("rpm", 2, 1.0, 60.0)]
    assert store.limit_acquire("a", rpm, now=1e9, hold_s=60).ok
    inner.down = True
    got = [store.limit_acquire(f"d{i}", rpm, now=1e9, hold_s=60).ok for i in range(3)]
    assert got == [True, True, False]  # the per-process window is enforced too
    store.limit_release("d0", ["slots"])  # no error while down
    down, _ = store_logs(caplog)
    assert len(down) == 1
    inner.down = False
    clock.t += 2  # past retry_s: the next operation probes and recovers
    assert store.limit_acquire("b", rpm, now=1e9, hold_s=60).ok  # the shared window: 1 + 1
    assert not store.limit_acquire("c", rpm, now=1e9, hold_s=60).ok


async def test_async_limits_fall_back_the_same_way() -> None:
    from router.state.aio import AsyncMemoryStore
    from router.state.base import LimitCharge

    inner, clock = Flaky(), Clock()
    store = AsyncResilientStore(AsyncMemoryStore(inner), clock=clock)
    rpm = [LimitCharge("rpm", 1, 1.0, 60.0)]
    assert (await store.limit_acquire("a", rpm, now=1e9, hold_s=60)).ok
    inner.down = True
    assert (await store.limit_acquire("b", rpm, now=1e9, hold_s=60)).ok  # process memory
    await store.limit_release("b", ["x"])
    assert store.degraded


def test_money_fails_fast_then_probes_once_per_retry_s() -> None:
    inner, clock = Flaky(), Clock()
    store = ResilientStore(inner, clock=clock, retry_s=1.0)
    w = [BudgetCharge("w", 1.0, 9e9)]
    inner.down = True
    with pytest.raises(StateUnavailable):
        store.budget_reserve("r", w, 0.1, now=0, hold_s=60)
    calls = inner.calls
    for _ in range(100):
        with pytest.raises(StateUnavailable, match="budget cannot be enforced"):
            store.budget_reserve("r", w, 0.1, now=0, hold_s=60)
        store.set("k", "v")  # key/value: memory, no probe either
    assert inner.calls == calls
    clock.t += 1.0
    with pytest.raises(StateUnavailable):
        store.budget_usage("w", now=0)  # the probe: fails, still down
    assert inner.calls == calls + 1
    inner.down = False
    store.set("k", "v")
    assert store.degraded and inner.get("k") is None  # not yet retry_s since the probe
    clock.t += 1.0
    assert store.get("k") is None  # the probe succeeds: the inner store again
    assert not store.degraded
    assert store.budget_reserve("r", w, 0.1, now=0, hold_s=60).ok


def test_an_admission_is_money_while_the_store_is_down() -> None:
    """The budget hold and the first try's limits in one operation: refused as a
    budget hold is, with no limit counted in process memory meanwhile."""

    from router.state.aio import AsyncMemoryStore
    from router.state.base import LimitCharge

    async def go() -> None:
        inner = Flaky()
        sync = ResilientStore(inner)
        astore = AsyncResilientStore(AsyncMemoryStore(inner))
        w, rpm = [BudgetCharge("w", 1.0, 9e9)], [LimitCharge("rpm", 1, 1.0, 60.0)]
        ok = sync.admit("r0", w, 0.1, "t0", rpm, now=1e9, hold_s=60, limit_hold_s=60)
        assert ok.reserved.ok and ok.acquired is not None and ok.acquired.ok
        inner.down = True
        with pytest.raises(StateUnavailable, match="budget cannot be enforced") as e1:
            sync.admit("r1", w, 0.1, "t1", rpm, now=1e9, hold_s=60, limit_hold_s=60)
        with pytest.raises(StateUnavailable) as e2:
            await astore.admit("r2", w, 0.1, "t2", rpm, now=1e9, hold_s=60, limit_hold_s=60)
        assert e1.value.operation == e2.value.operation == "admit"
        # Nothing went to the fallback: its rpm window is empty.
        fallback = sync.failover.fallback()
        assert fallback.limit_acquire("p", rpm, now=1e9, hold_s=1).ok

    asyncio.run(go())


def test_only_connection_failures_degrade() -> None:
    from redis import exceptions as rx

    inner = Flaky()
    store = ResilientStore(inner)
    store.set("s", "text")
    with pytest.raises(ValueError):
        store.incr("s")  # not a number: the store's own error
    for err in (rx.ResponseError("NOSCRIPT"), rx.AuthenticationError("bad password"), KeyError()):
        inner.down, inner.error = True, err
        with pytest.raises(type(err)):
            store.get("s")
        with pytest.raises(type(err)):
            store.budget_usage("w", now=0)
        assert not store.degraded
    for err in (rx.ConnectionError("refused"), rx.TimeoutError("timeout"), OSError("unreachable")):
        store = ResilientStore(inner)
        inner.error = err
        assert store.get("s") is None
        assert store.degraded


def test_open_store_wraps_redis_only() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:1/0?prefix=p:"
    s = open_store(url)
    assert isinstance(s, ResilientStore) and PASSWORD not in s.failover.name
    assert "127.0.0.1:1" in s.failover.name and PASSWORD not in repr(s)
    bare = open_store(url, resilient=False)
    assert not isinstance(bare, ResilientStore)
    assert isinstance(open_store("memory"), MemoryStore)
    for x in (s, bare):
        x.close()
    f: Failover[MemoryStore] = s.failover
    assert f.retry_s == 1.0


async def test_open_async_store_wraps_redis_only(tmp_path: Any) -> None:
    a = open_async_store(f"redis://:{PASSWORD}@127.0.0.1:1/0")
    assert isinstance(a, AsyncResilientStore) and PASSWORD not in a.failover.name
    b = open_async_store(f"sqlite://{tmp_path}/s.db")
    assert not isinstance(b, AsyncResilientStore)
    await a.aclose()
    await b.aclose()
    with pytest.raises(RuntimeError):
        await a.get("k")
