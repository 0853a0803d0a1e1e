"""The sans-IO walker on its own: retry timing, deadlines, fallback rules, breakers, hedging.

A fake clock drives every deadline, so nothing here sleeps.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import load_config
from router.config.schema import BreakerConfig
from router.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    InvalidRequestError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
)
from router.execution.breaker import Breakers, BreakerState
from router.execution.walker import Send, Sleep, Walker
from router.policy import Decision, Policy
from router.state import MemoryStore
from router.types import ChatRequest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s


def _config(
    names: tuple[str, ...] = ("a", "b", "c"),
    route: dict[str, Any] | None = None,
    retry: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
    windows: dict[str, int] | None = None,
) -> Any:
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for n in names:
        p: dict[str, Any] = {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}
        if retry is not None:
            p["retry"] = retry
        if breaker is not None:
            p["breaker"] = breaker
        providers[n] = p
        models[n] = {"provider": n, "model": n}
        if windows and n in windows:
            models[n]["context_window"] = windows[n]
    return load_config(
        {
            "providers": providers,
            "models": models,
            "routes": {"r": {"candidates": list(names), **(route or {})}},
        }
    )


def _walker(
    cfg: Any, clock: Clock | None = None, deadline_s: float | None = None, **kw: Any
) -> tuple[Walker, Decision]:
    policy = Policy(cfg)
    decision = policy.decide(ChatRequest(messages=[{"role": "user", "content": "x"}]), model="r")
    route = policy.route_for("r")[1]
    w = Walker(
        decision,
        route,
        deadline_s=deadline_s,
        clock=clock or Clock(),
        rng=random.Random(7),
        **kw,
    )
    return w, decision


def _send(w: Walker) -> Send:
    step = w.next()
    assert isinstance(step, Send), step
    return step


RETRY = {"attempts": 4, "backoff": {"initial_s": 1, "max_s": 3, "multiplier": 2, "jitter": 0}}


def test_exponential_backoff_capped_then_fallback() -> None:
    w, _ = _walker(_config(retry=RETRY))
    sleeps = []
    for _ in range(4):
        s = _send(w)
        assert s.target.name == "a"
        w.failed(s, ProviderUnavailable("x", status=503), 0.01)
        nxt = w.next()
        if isinstance(nxt, Sleep):
            sleeps.append(nxt.seconds)
        else:
            assert isinstance(nxt, Send) and nxt.target.name == "b"
            break
    assert sleeps == [1, 2, 3]


def test_jitter_adds_at_most_its_fraction() -> None:
    retry = {"attempts": 2, "backoff": {"initial_s": 2, "jitter": 0.5}}
    w, _ = _walker(_config(retry=retry))
    w.failed(_send(w), ProviderUnavailable("x", status=500), 0.0)
    step = w.next()
    assert isinstance(step, Sleep)
    assert 2 <= step.seconds <= 3


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    w, _ = _walker(_config(retry={"attempts": 3, "max_retry_after_s": 10}))
    w.failed(_send(w), RateLimitError("slow", retry_after_s=7, status=429), 0.0)
    assert w.next() == Sleep(7)
    s = _send(w)
    assert (s.target.name, s.try_no) == ("a", 2)
    w.failed(s, RateLimitError("slower", retry_after_s=11, status=429), 0.0)
    assert _send(w).target.name == "b"  # over the cap: fall back, do not wait


def test_quota_auth_and_invalid_request() -> None:
    w, _ = _walker(_config(retry={"attempts": 3}))
    w.failed(_send(w), RateLimitError("q", quota_exhausted=True, status=429), 0.0)
    s = _send(w)
    assert s.target.name == "b"  # quota: no retry, fallback
    w.failed(s, AuthenticationError("no", status=401), 0.0)
    s = _send(w)
    assert s.target.name == "c"  # auth: no retry, fallback
    w.failed(s, InvalidRequestError("bad", status=400), 0.0)
    assert w.next() is None  # invalid: surfaces at once
    err = w.error()
    assert isinstance(err, InvalidRequestError)
    assert [a.target for a in err.attempts] == ["a", "b", "c"]


def test_context_length_skips_to_a_larger_window() -> None:
    cfg = _config(("a", "b", "c", "d"), windows={"a": 8000, "b": 8000, "c": 4000, "d": 16000})
    w, _ = _walker(cfg)
    w.failed(_send(w), ContextLengthExceeded("too long", status=400), 0.0)
    assert _send(w).target.name == "d"
    assert [(a.target, a.outcome) for a in w.attempts] == [
        ("a", "error"),
        ("b", "skipped"),
        ("c", "skipped"),
    ]


def test_context_length_without_larger_target_raises_it() -> None:
    w, _ = _walker(_config(("a", "b"), windows={"a": 8000, "b": 4000}))
    w.failed(_send(w), ContextLengthExceeded("too long", status=400), 0.0)
    assert w.next() is None
    assert isinstance(w.error(), ContextLengthExceeded)


def test_fallback_false_on_the_route_stops_after_first_target() -> None:
    w, _ = _walker(_config(route={"fallback": False}, retry={"attempts": 2}))
    for _ in range(2):
        s = _send(w)
        assert s.target.name == "a"
        w.failed(s, ProviderUnavailable("x", status=500), 0.0)
        step = w.next()
        if isinstance(step, Sleep):
            continue
        assert step is None or (isinstance(step, Send) and step.target.name == "a")
        if isinstance(step, Send):
            w.failed(step, ProviderUnavailable("x", status=500), 0.0)
            assert w.next() is None
            break
    assert {a.target for a in w.attempts} == {"a"}


def test_deadline_caps_timeouts_and_backoff_never_sleeps_past_it() -> None:
    clock = Clock()
    retry = {"attempts": 3, "backoff": {"initial_s": 4, "jitter": 0}}
    w, _ = _walker(_config(retry=retry), clock, deadline_s=10)
    s = _send(w)
    assert s.timeout_s == 10
    clock.advance(3)
    w.failed(s, ProviderUnavailable("x", status=500), 3)
    assert w.next() == Sleep(4)  # 4 < 7 left
    clock.advance(4)
    s = _send(w)
    assert s.timeout_s == 3
    clock.advance(1)
    w.failed(s, ProviderUnavailable("x", status=500), 1)
    s = _send(w)  # 8 s of backoff would pass the deadline (2 s left): fall back now
    assert s.target.name == "b"
    assert s.timeout_s == 2
    clock.advance(2)
    w.failed(s, ProviderTimeout("slow", code="timeout"), 2)
    assert w.next() is None
    err = w.error()
    assert isinstance(err, ProviderTimeout)
    assert err.code == "deadline"
    assert len(err.attempts) == 3


def test_context_deadline_tighter_than_route_wins() -> None:
    w, _ = _walker(_config(route={"deadline_s": 30}), deadline_s=5)
    assert _send(w).timeout_s == 5
    w2, _ = _walker(_config(route={"deadline_s": 3}), deadline_s=5)
    assert _send(w2).timeout_s == 3


def test_first_token_timeout_rides_on_the_send() -> None:
    w, _ = _walker(_config(route={"first_token_timeout_s": 1.5}))
    assert _send(w).first_token_s == 1.5


def test_open_breaker_is_skipped_and_recorded() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    breakers = Breakers(store, clock)
    cfg = _config(breaker={"failures": 1, "cooldown_s": 30})
    w, _ = _walker(cfg, clock, breakers=breakers)
    w.failed(_send(w), ProviderUnavailable("x", status=500), 0.0)  # opens a's breaker
    w2, _ = _walker(cfg, clock, breakers=breakers)
    s = _send(w2)
    assert s.target.name == "b"
    assert [(a.target, a.outcome) for a in w2.attempts] == [("a", "breaker_open")]


def test_all_breakers_open_gives_a_clear_error() -> None:
    clock = Clock()
    breakers = Breakers(MemoryStore(clock), clock)
    cfg = _config(("a", "b"), breaker={"failures": 1})
    for name in ("a", "b"):
        breakers.failure(name, BreakerConfig(failures=1))
    w, _ = _walker(cfg, clock, breakers=breakers)
    assert w.next() is None
    err = w.error()
    assert isinstance(err, ProviderUnavailable)
    assert err.code == "breaker_open"
    assert "a, b" in str(err)


def test_hedge_moves_to_next_target_once() -> None:
    w, _ = _walker(_config(route={"hedge_after_ms": 200}))
    first = _send(w)
    assert w.hedge_delay() == 0.2
    hedge = w.hedge()
    assert hedge is not None and hedge.target.name == "b" and hedge.hedge
    assert w.hedge_delay() is None  # at most one hedge per request
    w.failed(first, ProviderUnavailable("x", status=500), 0.1)  # straggler: no decision
    w.cancelled(first, 0.1)
    w.succeeded(hedge, 0.05)
    assert w.next() is None
    assert [(a.target, a.outcome) for a in w.attempts] == [
        ("a", "error"),
        ("a", "cancelled"),
        ("b", "ok"),
    ]


def test_no_hedge_without_config_or_next_target() -> None:
    w, _ = _walker(_config())
    _send(w)
    assert w.hedge_delay() is None
    w2, _ = _walker(_config(("a",), route={"hedge_after_ms": 10}))
    _send(w2)
    assert w2.hedge_delay() is None


# -- policy closure by construction --------------------------------------------

_ERRORS: list[ProviderError] = [
    ProviderUnavailable("x", status=500),
    ProviderUnavailable("x", code="connection"),
    ProviderTimeout("x", code="timeout"),
    RateLimitError("x", status=429, retry_after_s=0.5),
    RateLimitError("x", status=429, retry_after_s=500),
    RateLimitError("x", status=429, quota_exhausted=True),
    AuthenticationError("x", status=401),
    InvalidRequestError("x", status=400),
    ContextLengthExceeded("x", status=400),
]


@settings(max_examples=200, deadline=None)
@given(
    plan_size=st.integers(1, 4),
    fallback=st.booleans(),
    hedge=st.booleans(),
    outcomes=st.lists(st.integers(-1, len(_ERRORS) - 1), max_size=30),
    tick=st.floats(0, 3),
    deadline=st.one_of(st.none(), st.floats(1, 20)),
    opened=st.sets(st.sampled_from(["a", "b", "c", "d", "x", "y"])),
)
def test_walker_only_sends_to_plan_targets(
    plan_size: int,
    fallback: bool,
    hedge: bool,
    outcomes: list[int],
    tick: float,
    deadline: float | None,
    opened: set[str],
) -> None:
    """Whatever fails, whatever the breakers say: every Send names a plan target."""
    names = ("a", "b", "c", "d", "x", "y")
    clock = Clock()
    breakers = Breakers(MemoryStore(clock), clock)
    bcfg = BreakerConfig(failures=1)
    for n in opened:
        breakers.failure(n, bcfg)
    route: dict[str, Any] = {"fallback": fallback}
    if hedge:
        route["hedge_after_ms"] = 100
    cfg = _config(names, route=route, retry={"attempts": 3}, breaker={"failures": 1})
    policy = Policy(cfg)
    decision = policy.decide(ChatRequest(messages=[{"role": "user", "content": "x"}]), model="r")
    # The decision admits a subset: the walker must stay inside it.
    decision = Decision(
        id=decision.id,
        route="r",
        plan=decision.plan[:plan_size],
        excluded={},
        matched_rules=(),
        sensitivity=decision.sensitivity,
        limits=decision.limits,
        fallback=fallback,
    )
    allowed = set(decision.target_names if fallback else decision.target_names[:1])
    w = Walker(
        decision,
        policy.route_for("r")[1],
        deadline_s=deadline,
        clock=clock,
        rng=random.Random(1),
        breakers=breakers,
    )
    it = iter(outcomes)
    for _ in range(200):
        step = w.next()
        if step is None:
            break
        if isinstance(step, Sleep):
            clock.advance(step.seconds)
            continue
        assert step.target.name in allowed
        if hedge and w.hedge_delay() is not None:
            h = w.hedge()
            if h is not None:
                assert h.target.name in allowed
                w.failed(h, ProviderUnavailable("x", status=503), tick)
        clock.advance(tick)
        code = next(it, -1)
        if code < 0:
            w.succeeded(step, tick)
        else:
            w.failed(step, _ERRORS[code], tick)
    else:
        raise AssertionError("the walk did not end")
    assert {a.target for a in w.attempts} <= allowed
    if w.attempts and w.attempts[-1].outcome != "ok":
        assert isinstance(w.error(), ProviderError)


def test_only_the_prober_releases_its_claim() -> None:
    clock = Clock()
    breakers = Breakers(MemoryStore(clock), clock)
    cfg = _config(("a", "b"), breaker={"failures": 1, "cooldown_s": 10})
    bcfg = BreakerConfig(failures=1, cooldown_s=10)
    breakers.failure("a", bcfg)
    clock.advance(11)  # half-open
    prober, _ = _walker(cfg, clock, breakers=breakers)
    probe = _send(prober)
    assert probe.target.name == "a"
    bystander, _ = _walker(cfg, clock, breakers=breakers)
    s = _send(bystander)
    assert s.target.name == "b"  # a's probe is taken
    bystander.succeeded(s, 0.1, final=False)
    bystander.abandoned()  # must not free a's claim
    assert breakers.allow("a", bcfg) is None
    prober.succeeded(probe, 0.1, final=False)
    prober.abandoned()  # the stream was dropped: no verdict, the claim is freed
    assert breakers.state("a") is BreakerState.HALF_OPEN
    assert breakers.allow("a", bcfg) is BreakerState.HALF_OPEN
