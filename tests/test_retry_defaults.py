"""Retries by default, as the official SDKs do, on the last target of a plan.

With no ``retry:`` block, a target with no other planned target after it is
tried up to three times (two retries) on 408, 409, 429, 5xx, timeouts and
connection errors, honouring ``Retry-After`` up to ``max_retry_after_s`` (a
longer one is not waited: the error surfaces) and backing off exponentially
with jitter otherwise. With another target left, the walk falls back at once.
An explicit ``retry:`` keeps its meaning; ``retry: {attempts: 1}`` retries nothing.

Nothing here really waits: the walker's ``Sleep`` steps are read directly, or
the drivers' sleep is replaced by a recorder.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from router.config import load_config
from router.config.schema import BreakerConfig
from router.errors import (
    InvalidRequestError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
)
from router.execution import executor
from router.execution.breaker import Breakers
from router.execution.walker import Send, Sleep, Walker
from router.policy import Policy
from router.state import MemoryStore
from router.types import ChatRequest
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

MODES = ("sync", "async")


# -- the walker on its own -----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _walker(
    names: tuple[str, ...],
    *,
    retry: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
    clock: Clock | None = None,
    breakers: Breakers | None = None,
) -> Walker:
    providers: dict[str, Any] = {}
    for n in names:
        p: dict[str, Any] = {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}
        if retry is not None:
            p["retry"] = retry
        if breaker is not None:
            p["breaker"] = breaker
        providers[n] = p
    cfg = load_config(
        {
            "providers": providers,
            "models": {n: {"provider": n, "model": n} for n in names},
            "routes": {"r": {"candidates": list(names), **(route or {})}},
        }
    )
    policy = Policy(cfg)
    decision = policy.decide(ChatRequest(messages=[{"role": "user", "content": "x"}]), model="r")
    return Walker(
        decision,
        policy.route_for("r")[1],
        clock=clock or Clock(),
        rng=random.Random(3),
        breakers=breakers,
    )


def _send(w: Walker) -> Send:
    step = w.next()
    assert isinstance(step, Send), step
    return step


def test_walker_one_target_429_waits_the_retry_after_then_retries() -> None:
    w = _walker(("a",))
    w.failed(_send(w), RateLimitError("slow", status=429, retry_after_s=1.0), 0.0)
    assert w.next() == Sleep(1.0)
    s = _send(w)
    assert (s.target.name, s.try_no) == ("a", 2)


def test_walker_backoff_is_exponential_with_jitter_then_gives_up() -> None:
    w = _walker(("a",))
    sleeps: list[float] = []
    while (step := w.next()) is not None:
        if isinstance(step, Sleep):
            sleeps.append(step.seconds)
            continue
        w.failed(step, ProviderUnavailable("x", status=503), 0.0)
    assert len(w.attempts) == 3  # the first try and two retries
    assert 0.5 <= sleeps[0] <= 0.5 * 1.25
    assert 1.0 <= sleeps[1] <= 1.0 * 1.25
    assert isinstance(w.error(), ProviderUnavailable)


def test_walker_two_targets_fall_back_at_once() -> None:
    w = _walker(("a", "b"))
    w.failed(_send(w), RateLimitError("slow", status=429, retry_after_s=1.0), 0.0)
    s = _send(w)  # no Sleep, no second try of a
    assert (s.target.name, s.try_no) == ("b", 1)
    # b is the last target: it gets the default retries.
    w.failed(s, ProviderUnavailable("x", status=502), 0.0)
    assert isinstance(w.next(), Sleep)
    assert _send(w).target.name == "b"


@pytest.mark.parametrize(
    "err",
    [
        ProviderTimeout("x", status=408),
        InvalidRequestError("locked", status=409),
        ProviderTimeout("slow", code="timeout"),
        ProviderUnavailable("refused", code="connection"),
        ProviderUnavailable("overloaded", status=529),
        ProviderUnavailable("stream ended", code="stream_truncated"),
    ],
    ids=["408", "409", "timeout", "connection", "529", "cut-stream"],
)
def test_walker_retries_what_the_sdks_retry(err: Any) -> None:
    w = _walker(("a",))
    w.failed(_send(w), err, 0.0)
    assert isinstance(w.next(), Sleep)
    assert _send(w).target.name == "a"


@pytest.mark.parametrize(
    "err",
    [
        InvalidRequestError("bad", status=400),
        RateLimitError("q", status=429, quota_exhausted=True),
        ProviderUnavailable("x", status=500, should_retry=False),
        ProviderUnavailable("not JSON", code="malformed_response"),
    ],
    ids=["400", "quota", "x-should-retry-false", "malformed"],
)
def test_walker_does_not_retry_the_rest(err: Any) -> None:
    w = _walker(("a",))
    w.failed(_send(w), err, 0.0)
    assert w.next() is None
    assert w.error() is err


def test_walker_explicit_attempts_1_retries_nothing() -> None:
    w = _walker(("a",), retry={"attempts": 1})
    w.failed(_send(w), RateLimitError("slow", status=429, retry_after_s=1.0), 0.0)
    assert w.next() is None


def test_walker_explicit_retry_keeps_its_meaning() -> None:
    # An explicit block does not retry a 409 (not in its ``on``), even on the last target.
    w = _walker(("a",), retry={"attempts": 3})
    w.failed(_send(w), InvalidRequestError("locked", status=409), 0.0)
    assert w.next() is None


def test_walker_retry_after_over_the_cap_gives_up() -> None:
    w = _walker(("a",))
    err = RateLimitError("later", status=429, retry_after_s=61.0)  # cap: 60 s
    w.failed(_send(w), err, 0.0)
    assert w.next() is None
    assert w.error() is err and err.retry_after_s == 61.0


def test_walker_never_sleeps_past_the_deadline() -> None:
    clock = Clock()
    w = _walker(("a",), route={"deadline_s": 5}, clock=clock)
    clock.now += 4.5
    w.failed(_send(w), RateLimitError("slow", status=429, retry_after_s=1.0), 4.5)
    assert w.next() is None  # 1 s would end past the deadline (0.5 s left)


def test_walker_without_fallback_the_head_is_the_last_target() -> None:
    w = _walker(("a", "b"), route={"fallback": False})
    w.failed(_send(w), ProviderUnavailable("x", status=503), 0.0)
    assert isinstance(w.next(), Sleep)
    assert _send(w).target.name == "a"


def test_walker_later_targets_behind_open_breakers_do_not_count() -> None:
    clock = Clock()
    breakers = Breakers(MemoryStore(clock), clock)
    breakers.failure("b", BreakerConfig(failures=1))  # b is skipped: a is the last target
    w = _walker(("a", "b"), breaker={"failures": 1}, clock=clock, breakers=breakers)
    w.failed(_send(w), RateLimitError("slow", status=429, retry_after_s=0.25), 0.0)
    assert w.next() == Sleep(0.25)
    assert _send(w).target.name == "a"


# -- through the routers, against the fault server ---------------------------------


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The drivers' sleeps, recorded instead of waited."""
    waited: list[float] = []

    class _Time:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            waited.append(seconds)

    async def _asleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(executor, "time", _Time())
    monkeypatch.setattr(executor, "_sleep", _asleep)
    yield waited


def _config(server: FaultServer, names: tuple[str, ...], retry: Any = None) -> dict[str, Any]:
    cfg = make_config(server, [{"name": n} for n in names])
    for p in cfg["providers"].values():
        if retry is None:
            del p["retry"]  # no ``retry:`` block at all
        else:
            p["retry"] = retry
    return cfg


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_one_target_429_retry_after_then_200(
    faults: FaultServer, sleeps: list[float], mode: str, stream: bool
) -> None:
    faults.script("a", Fault.rate_limit(seconds=1))
    out = run(_config(faults, ("a",)), mode=mode, stream=stream)
    assert out.error is None, out.error
    assert out.text == "Hello from a"
    assert out.summary() == [("a", "error", 429, "RateLimitError"), ("a", "ok", 200, None)]
    assert sleeps == [1.0]


@pytest.mark.parametrize("mode", MODES)
def test_two_targets_fall_back_at_once(faults: FaultServer, sleeps: list[float], mode: str) -> None:
    faults.script("a", Fault.rate_limit(seconds=1))
    faults.script("b", Fault.http(503))
    out = run(_config(faults, ("a", "b")), mode=mode, stream=False)
    assert out.text == "Hello from b"
    assert out.summary() == [
        ("a", "error", 429, "RateLimitError"),  # b remains: no retry, no wait
        ("b", "error", 503, "ProviderUnavailable"),  # b is the last: retried
        ("b", "ok", 200, None),
    ]
    assert faults.count("a") == 1
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 0.625  # b's backoff, not a's Retry-After


@pytest.mark.parametrize("mode", MODES)
def test_attempts_1_fails_at_once(faults: FaultServer, sleeps: list[float], mode: str) -> None:
    faults.script("a", Fault.rate_limit(seconds=1))
    out = run(_config(faults, ("a",), retry={"attempts": 1}), mode=mode, stream=False)
    assert isinstance(out.error, RateLimitError)
    assert faults.count("a") == 1 and sleeps == []


@pytest.mark.parametrize("mode", MODES)
def test_400_is_not_retried(faults: FaultServer, sleeps: list[float], mode: str) -> None:
    faults.script("a", Fault.http(400, "invalid_request_error"))
    out = run(_config(faults, ("a",)), mode=mode, stream=False)
    assert isinstance(out.error, InvalidRequestError)
    assert faults.count("a") == 1 and sleeps == []


@pytest.mark.parametrize("mode", MODES)
def test_three_503_give_up_after_three_tries(
    faults: FaultServer, sleeps: list[float], mode: str
) -> None:
    faults.default("a", Fault.http(503))
    out = run(_config(faults, ("a",)), mode=mode, stream=False)
    assert isinstance(out.error, ProviderUnavailable)
    assert out.summary() == [("a", "error", 503, "ProviderUnavailable")] * 3
    assert faults.count("a") == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 0.625 and 1.0 <= sleeps[1] <= 1.25


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_over_the_cap_is_not_waited(
    faults: FaultServer, sleeps: list[float], mode: str
) -> None:
    """Chosen behaviour: a server asking for more than ``max_retry_after_s`` is not
    retried (nor waited for a capped time); its error surfaces with ``retry_after_s``."""
    faults.script("a", Fault.rate_limit(seconds=3600))
    out = run(_config(faults, ("a",)), mode=mode, stream=False)
    assert isinstance(out.error, RateLimitError)
    assert out.error.retry_after_s == 3600
    assert faults.count("a") == 1 and sleeps == []


@pytest.mark.parametrize("mode", MODES)
def test_connection_reset_then_ok(faults: FaultServer, sleeps: list[float], mode: str) -> None:
    faults.script("a", Fault.reset())
    out = run(_config(faults, ("a",)), mode=mode, stream=False)
    assert out.text == "Hello from a"
    assert faults.count("a") == 2 and len(sleeps) == 1
