"""Deadlines bound all retries and fallbacks; first-token timeouts move streams on.

Times are measured by the tests themselves with generous margins: the
assertions are about bounds (seconds, not milliseconds), never speed.
"""

from __future__ import annotations

import time

import pytest

from router.errors import ProviderTimeout
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

SLOW_READ = {"connect_s": 5, "read_s": 5, "write_s": 5, "pool_s": 5}
MARGIN_S = 1.5


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_route_deadline_bounds_retries_and_fallbacks(
    faults: FaultServer, mode: str, stream: bool
) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        route={"deadline_s": 0.6},
        retry={"attempts": 3, "backoff": {"initial_s": 0.01}},
        timeout=SLOW_READ,
    )
    for t in ("a", "b", "c"):
        faults.default(t, Fault.hang(10))
    t0 = time.monotonic()
    out = run(cfg, mode=mode, stream=stream)
    elapsed = time.monotonic() - t0
    assert isinstance(out.error, ProviderTimeout)
    assert out.error.code == "deadline"
    assert out.attempts, "the attempts made before the deadline are reported"
    assert 0.5 <= elapsed < 0.6 + MARGIN_S
    # The read timeout (5 s) never got a chance: the deadline capped each try.
    assert all(a.latency_s < 0.6 + MARGIN_S for a in out.attempts)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_context_deadline_applies_too(faults: FaultServer, mode: str) -> None:
    cfg = make_config(faults, [{"name": "a"}], timeout=SLOW_READ)
    faults.default("a", Fault.hang(10))
    t0 = time.monotonic()
    out = run(cfg, mode=mode, stream=False, context={"deadline_s": 0.4})
    assert isinstance(out.error, ProviderTimeout)
    assert time.monotonic() - t0 < 0.4 + MARGIN_S


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_backoff_never_sleeps_past_the_deadline(faults: FaultServer, mode: str) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        route={"deadline_s": 2.0},
        retry={"attempts": 3, "max_retry_after_s": 60},
    )
    faults.script("a", Fault.rate_limit(seconds=30))
    t0 = time.monotonic()
    out = run(cfg, mode=mode, stream=False)
    assert out.text == "Hello from b"  # 30 s of Retry-After does not fit: fall back
    assert time.monotonic() - t0 < 2.0
    assert [a.target for a in out.attempts] == ["a", "b"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_first_token_timeout_falls_back_to_next_target(faults: FaultServer, mode: str) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        route={"first_token_timeout_s": 0.3},
        retry={"attempts": 1},
        timeout=SLOW_READ,
    )
    faults.default("a", Fault.ok(delay_s=3))
    t0 = time.monotonic()
    out = run(cfg, mode=mode, stream=True)
    assert out.text == "Hello from b"
    assert out.summary()[0] == ("a", "timeout", None, "ProviderTimeout")
    assert time.monotonic() - t0 < 0.3 + MARGIN_S


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_retry_after_ms_is_waited_before_the_retry(faults: FaultServer, mode: str) -> None:
    cfg = make_config(faults, [{"name": "a"}], retry={"attempts": 2, "max_retry_after_s": 5})
    faults.script("a", Fault.rate_limit(ms=300))
    t0 = time.monotonic()
    out = run(cfg, mode=mode, stream=False)
    assert out.text == "Hello from a"
    gap = faults.records("a")[1].at - faults.records("a")[0].at
    assert gap >= 0.3  # a lower bound: sleeping cannot be shorter than asked
    assert time.monotonic() - t0 >= 0.3
