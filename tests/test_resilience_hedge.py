"""Hedging: a slow first target gets a duplicate on the next planned one; first answer wins."""

from __future__ import annotations

import pytest

from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

MODES = ("sync", "async")
SLOW_READ = {"connect_s": 5, "read_s": 5, "write_s": 5, "pool_s": 5}


def _cfg(server: FaultServer, **route: object) -> dict[str, object]:
    return make_config(
        server,
        [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "outside", "in_route": False}],
        route={"hedge_after_ms": 50, **route},
        retry={"attempts": 1},
        timeout=SLOW_READ,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_hedge_wins_and_the_slow_try_is_cancelled(
    faults: FaultServer, mode: str, stream: bool
) -> None:
    faults.default("a", Fault.ok(delay_s=0.6))
    out = run(_cfg(faults), mode=mode, stream=stream)
    assert out.text == "Hello from b"
    assert sorted(out.summary()) == [("a", "cancelled", None, None), ("b", "ok", 200, None)]
    assert faults.targets_hit() == {"a", "b"}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_fast_first_target_is_not_hedged(faults: FaultServer, mode: str, stream: bool) -> None:
    out = run(_cfg(faults, hedge_after_ms=2000), mode=mode, stream=stream)
    assert out.summary() == [("a", "ok", 200, None)]
    assert faults.targets_hit() == {"a"}


@pytest.mark.parametrize("mode", MODES)
def test_hedge_failure_lets_the_first_try_win(faults: FaultServer, mode: str) -> None:
    faults.default("a", Fault.ok(delay_s=0.3))
    faults.default("b", Fault.http(503))
    out = run(_cfg(faults), mode=mode, stream=False)
    assert out.text == "Hello from a"
    assert ("b", "error", 503, "ProviderUnavailable") in out.summary()
    assert ("a", "ok", 200, None) in out.summary()


@pytest.mark.parametrize("mode", MODES)
def test_both_failing_continues_the_walk_inside_the_plan(faults: FaultServer, mode: str) -> None:
    faults.default("a", Fault.hang(0.4))
    faults.default("b", Fault.hang(0.4))
    out = run(_cfg(faults, deadline_s=3), mode=mode, stream=False)
    assert out.text == "Hello from c"
    assert faults.targets_hit() == {"a", "b", "c"}
    assert "outside" not in faults.targets_hit()
