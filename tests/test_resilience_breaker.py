"""Circuit breakers: open, skip, half-open with one probe, close — in the state store."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from router import Router
from router.config.schema import BreakerConfig
from router.execution.breaker import Breakers, BreakerState
from router.execution.health import Health
from router.state import MemoryStore
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breakers(clock: Clock) -> Breakers:
    return Breakers(MemoryStore(clock), clock)


CFG = BreakerConfig(failures=3, window_s=10, cooldown_s=30)


def test_opens_after_failures_in_window(breakers: Breakers) -> None:
    assert not breakers.failure("t", CFG)
    assert not breakers.failure("t", CFG)
    assert breakers.state("t") is BreakerState.CLOSED
    assert breakers.allow("t", CFG)
    assert breakers.failure("t", CFG)
    assert breakers.state("t") is BreakerState.OPEN
    assert not breakers.allow("t", CFG)


def test_success_resets_the_failure_run(breakers: Breakers) -> None:
    breakers.failure("t", CFG)
    breakers.failure("t", CFG)
    breakers.success("t", CFG)
    breakers.failure("t", CFG)
    breakers.failure("t", CFG)
    assert breakers.state("t") is BreakerState.CLOSED


def test_only_the_probe_closes_a_breaker_that_tripped_meanwhile(
    breakers: Breakers, clock: Clock
) -> None:
    """A call admitted while closed that succeeds after others tripped the breaker
    does not close it (nor skip its cooldown); the half-open probe's success does."""
    assert breakers.allow("t", CFG) is BreakerState.CLOSED  # our call, admitted closed
    for _ in range(3):
        breakers.failure("t", CFG)  # other calls trip it meanwhile
    breakers.success("t", CFG, probe=False)  # ours answers late
    assert breakers.state("t") is BreakerState.OPEN
    clock.now += 31
    assert breakers.allow("t", CFG) is BreakerState.HALF_OPEN  # the probe
    breakers.success("t", CFG)
    assert breakers.state("t") is BreakerState.CLOSED


def test_failures_outside_the_window_do_not_add_up(breakers: Breakers, clock: Clock) -> None:
    breakers.failure("t", CFG)
    breakers.failure("t", CFG)
    clock.now += 11
    breakers.failure("t", CFG)
    assert breakers.state("t") is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_then_closes(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.failure("t", CFG)
    clock.now += 29
    assert not breakers.allow("t", CFG)
    clock.now += 2
    assert breakers.state("t") is BreakerState.HALF_OPEN
    assert breakers.allow("t", CFG) is BreakerState.HALF_OPEN  # the probe
    assert not breakers.allow("t", CFG)  # everyone else waits for its verdict
    breakers.success("t", CFG)
    assert breakers.state("t") is BreakerState.CLOSED
    assert breakers.allow("t", CFG)
    assert not breakers.failure("t", CFG)  # a fresh count after closing


def test_failed_probe_reopens_for_another_cooldown(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.failure("t", CFG)
    clock.now += 31
    assert breakers.allow("t", CFG)
    assert breakers.failure("t", CFG)
    assert breakers.state("t") is BreakerState.OPEN
    clock.now += 31
    assert breakers.allow("t", CFG)


def test_abandoned_probe_claim_is_released(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.failure("t", CFG)
    clock.now += 31
    assert breakers.allow("t", CFG)
    breakers.release("t")
    assert breakers.allow("t", CFG)


def test_failure_ratio_opens_with_enough_calls(breakers: Breakers) -> None:
    cfg = BreakerConfig(failures=100, failure_ratio=0.5, min_calls=4, window_s=60)
    breakers.success("t", cfg)
    assert not breakers.failure("t", cfg)
    breakers.success("t", cfg)
    assert breakers.failure("t", cfg)  # 2 of 4 failed


def test_probe_claim_is_atomic_across_threads(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.failure("t", CFG)
    clock.now += 31
    wins: list[BreakerState | None] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        barrier.wait()
        wins.append(breakers.allow("t", CFG))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(BreakerState.HALF_OPEN) == 1
    assert wins.count(None) == 15


def test_no_config_means_no_breaker(breakers: Breakers) -> None:
    for _ in range(50):
        assert not breakers.failure("t", None)
    assert breakers.allow("t", None)


# -- through the router, against the fault server ------------------------------


def _router(server: FaultServer, clock: Clock, **breaker: Any) -> Router:
    cfg = make_config(
        server,
        [{"name": "a"}, {"name": "b"}],
        retry={"attempts": 1},
        breaker={"failures": 2, "window_s": 60, "cooldown_s": 30, **breaker},
    )
    # Drive the breakers' time (and the store's expiry) with the test's clock.
    return Router(cfg, store=MemoryStore(clock), clock=clock)


def _health(r: Router, clock: Clock) -> Health:
    """What the router's snapshots read: breakers and latencies in its store."""
    return Health(r.store, Breakers(r.store, clock))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_router_breaker_opens_skips_half_opens_and_closes(
    faults: FaultServer, clock: Clock, stream: bool
) -> None:
    faults.default("a", Fault.http(503))
    with _router(faults, clock) as r:
        for _ in range(2):
            out = run(r, mode="sync", stream=stream)
            assert [x.outcome for x in out.attempts] == ["error", "ok"]
        assert _health(r, clock).unavailable(("a", "b")) == frozenset({"a"})

        out = run(r, mode="sync", stream=stream)
        # The policy ranks the open target last; b answers, a is never contacted.
        assert out.summary() == [("b", "ok", 200, None)]
        assert faults.count("a") == 2

        clock.now += 31  # cooldown over: half-open, one probe; a has recovered
        faults.default("a", Fault.ok())
        out = run(r, mode="sync", stream=stream)
        assert out.summary() == [("a", "ok", 200, None)]
        assert Breakers(r.store, clock).state("a") is BreakerState.CLOSED
        assert _health(r, clock).unavailable(("a", "b")) == frozenset()
        assert "a" in _health(r, clock).latency_ms(("a", "b"))


def test_router_probe_failure_reopens(faults: FaultServer, clock: Clock) -> None:
    faults.default("a", Fault.http(500))
    with _router(faults, clock) as r:
        for _ in range(2):
            run(r, mode="sync", stream=False)
        clock.now += 31
        out = run(r, mode="sync", stream=False)
        assert out.summary()[0] == ("a", "error", 500, "ProviderUnavailable")
        assert Breakers(r.store, clock).state("a") is BreakerState.OPEN
        out = run(r, mode="sync", stream=False)
        assert out.summary() == [("b", "ok", 200, None)]
        assert faults.count("a") == 3


def test_async_router_shares_the_same_breaker_logic(faults: FaultServer) -> None:
    faults.default("a", Fault.http(503))
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        retry={"attempts": 1},
        breaker={"failures": 1, "cooldown_s": 60},
    )
    import asyncio

    from router import AsyncRouter

    async def go() -> list[list[str]]:
        async with AsyncRouter(cfg) as r:
            outs = [await r.chat([{"role": "user", "content": "x"}], model="r") for _ in range(3)]
        return [[a.outcome for a in o.route.attempts] for o in outs]  # type: ignore[union-attr]

    assert asyncio.run(go()) == [["error", "ok"], ["ok"], ["ok"]]
    assert faults.count("a") == 1


def test_health_keeps_a_latency_average_per_target(breakers: Breakers, clock: Clock) -> None:
    store = MemoryStore(clock)
    health = Health(store, Breakers(store, clock))
    health.observe("t", 0.100)
    assert health.latency_ms(["t", "u"]) == {"t": pytest.approx(100.0)}
    health.observe("t", 0.200)
    assert health.latency_ms(["t"])["t"] == pytest.approx(130.0)
    assert health.unavailable(["t"]) == frozenset()


def test_health_writes_once_per_success_while_its_snapshot_is_fresh(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore(clock)
    health = Health(store, Breakers(store, clock))
    health.observe("t", 0.100)
    assert health.latency_ms(["t"]) == {"t": pytest.approx(100.0)}  # the snapshot's read
    reads: list[str] = []
    original = store.get

    def counting(key: str) -> str | None:
        reads.append(key)
        return original(key)

    monkeypatch.setattr(store, "get", counting)
    health.observe("t", 0.200)
    assert reads == []  # the fresh snapshot's average stood in for a read
    assert float(original("lat:t") or 0) == pytest.approx(130.0)


def test_streams_cut_after_content_count_against_the_breaker(
    faults: FaultServer, clock: Clock
) -> None:
    faults.default("a", Fault.cut(after=2))
    with _router(faults, clock) as r:
        for _ in range(2):
            out = run(r, mode="sync", stream=True)
            assert type(out.error).__name__ == "StreamInterrupted"
        out = run(r, mode="sync", stream=True)
        assert out.summary() == [("b", "ok", 200, None)]
        assert faults.count("a") == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_planned_breaker_open_fails_fast_without_a_request(
    faults: FaultServer, clock: Clock, mode: str
) -> None:
    faults.default("a", Fault.http(503))
    faults.default("b", Fault.http(503))
    with _router(faults, clock) as r:
        run(r, mode="sync", stream=False)  # a: 503 (1), b: 503 (1)
        run(r, mode="sync", stream=False)  # a: 503 (2, opens), b: 503 (2, opens)
        assert _health(r, clock).unavailable(("a", "b")) == frozenset({"a", "b"})
        before = len(faults.records())
        if mode == "sync":
            out = run(r, mode="sync", stream=False)
        else:
            from router import AsyncRouter

            ar = AsyncRouter(r.config, store=r.store, clock=clock)  # shares the breakers
            out = run(ar, mode="async", stream=False)
        assert out.summary() == [
            ("a", "breaker_open", None, None),
            ("b", "breaker_open", None, None),
        ]
        assert getattr(out.error, "code", None) == "breaker_open"
        assert len(faults.records()) == before
