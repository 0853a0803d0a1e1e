"""The limiter's arithmetic: bucketed sliding windows, waits, header parsing, marks."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.providers.ratelimit_headers import (
    MAX_MARK_S,
    RateHint,
    limited_for,
    parse_duration,
    read_hint,
)
from router.state import MemoryStore
from router.state.base import LIMIT_BUCKETS, LimitCharge, limit_buckets

NOW = 1_800_000_000.0

# -- windows -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 20),
    window_s=st.sampled_from([1.0, 60.0, 3600.0]),
    steps=st.lists(
        st.tuples(st.floats(0, 2.0, allow_nan=False), st.integers(1, 5)), min_size=1, max_size=80
    ),
)
def test_no_sliding_window_ever_holds_more_than_the_limit(
    limit: int, window_s: float, steps: list[tuple[float, int]]
) -> None:
    """Whatever the arrival times and sizes, the units admitted in any window of
    ``window_s`` seconds (closed on the left, open on the right) stay within the limit."""
    store = MemoryStore()
    now = NOW
    admitted: list[tuple[float, int]] = []
    for i, (gap, amount) in enumerate(steps):
        now += gap * window_s / 10
        c = LimitCharge("w", limit, amount, window_s)
        if store.limit_acquire(f"t{i}", [c], now=now, hold_s=1).ok:
            admitted.append((now, amount))
    for start, _ in admitted:
        inside = sum(a for t, a in admitted if start <= t < start + window_s)
        assert inside <= limit


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(1, 10),
    times=st.lists(st.floats(0, 120, allow_nan=False), min_size=1, max_size=40),
)
def test_a_refusal_says_exactly_when_the_charge_fits_again(limit: int, times: list[float]) -> None:
    store = MemoryStore()
    c = LimitCharge("w", limit, 1.0, 60.0)
    for i, t in enumerate(sorted(times)):
        res = store.limit_acquire(f"t{i}", [c], now=NOW + t, hold_s=1)
        if res.ok:
            continue
        wait = res.retry_after_s
        assert wait is not None and 0 < wait <= 60 + 60 / LIMIT_BUCKETS
        probe = MemoryStore()  # the same history, asked again just before and at that time
        for j, u in enumerate(sorted(times)[:i]):
            probe.limit_acquire(f"t{j}", [c], now=NOW + u, hold_s=1)
        assert not probe.limit_acquire("x", [c], now=NOW + t + wait - 1e-6, hold_s=1).ok
        assert probe.limit_acquire("x", [c], now=NOW + t + wait + 1e-6, hold_s=1).ok
        return  # one refusal checked per example


def test_units_count_until_their_bucket_ends_plus_the_window() -> None:
    width, b = limit_buckets(60.0, NOW + 0.5)
    assert width == 1.0 and b == int(NOW)
    store = MemoryStore()
    c = LimitCharge("w", 1, 1.0, 60.0)
    assert store.limit_acquire("a", [c], now=NOW + 0.5, hold_s=1).ok
    res = store.limit_acquire("b", [c], now=NOW + 30, hold_s=1)
    assert res.retry_after_s == pytest.approx(31.0)  # bucket [NOW, NOW+1) + 60 s
    assert not store.limit_acquire("b", [c], now=NOW + 60.999, hold_s=1).ok
    assert store.limit_acquire("b", [c], now=NOW + 61, hold_s=1).ok


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 30),
    limit=st.integers(1, 10),
    releases=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_in_flight_holds_never_exceed_and_released_slots_return(
    n: int, limit: int, releases: list[bool]
) -> None:
    store = MemoryStore()
    c = LimitCharge("slots", limit)
    live: set[str] = set()
    for i in range(n):
        if store.limit_acquire(f"t{i}", [c], now=NOW, hold_s=60).ok:
            live.add(f"t{i}")
        assert len(live) <= limit
        if releases[i] and live:
            gone = sorted(live)[0]
            store.limit_release(gone, ["slots"])
            live.discard(gone)
    for t in sorted(live):
        store.limit_release(t, ["slots"])
    # Every slot came back: exactly ``limit`` fit again.
    got = [store.limit_acquire(f"u{i}", [c], now=NOW, hold_s=60).ok for i in range(limit + 1)]
    assert got == [True] * limit + [False]


# -- durations and headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("12", 12.0),
        ("0s", 0.0),
        ("250us", 0.00025),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1x", "-1s", "1s2", "abc", "nan", "inf", "1s 2s"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


@given(st.text(max_size=30))
def test_parse_duration_never_raises_and_is_finite(text: str) -> None:
    v = parse_duration(text)
    assert v is None or (math.isfinite(v) and v >= 0)


@given(st.dictionaries(st.sampled_from([
    "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "retry-after",
    "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
]), st.text(max_size=40)), st.integers(100, 599))  # fmt: skip
def test_garbled_headers_never_raise_nor_mark_for_long(
    headers: dict[str, str], status: int
) -> None:
    hint = read_hint(headers, NOW)
    if hint is not None:
        found = limited_for(hint, status=status, tokens_needed=100)
        assert found is None or 0 < found[0] <= MAX_MARK_S


def test_openai_headers() -> None:
    h = {
        "X-RateLimit-Remaining-Requests": "0",
        "x-ratelimit-reset-requests": "1.5s",
        "x-ratelimit-remaining-tokens": "150000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    hint = read_hint(h, NOW)
    assert hint == RateHint(0.0, 1.5, 150000.0, 360.0, None)
    assert limited_for(hint, status=200, tokens_needed=500) == (
        1.5,
        0.0,
        "no requests remaining (provider headers)",
    )


def test_anthropic_headers_are_times() -> None:
    reset = datetime.fromtimestamp(NOW + 42, UTC).isoformat().replace("+00:00", "Z")
    h = {
        "anthropic-ratelimit-input-tokens-remaining": "10",
        "anthropic-ratelimit-input-tokens-reset": reset,
        "anthropic-ratelimit-requests-remaining": "7",
        "anthropic-ratelimit-requests-reset": reset,
    }
    hint = read_hint(h, NOW)
    assert hint is not None and hint.tokens_reset_s == pytest.approx(42.0)
    found = limited_for(hint, status=200, tokens_needed=50)
    assert found is not None and found[:2] == (pytest.approx(42.0), 10.0)
    assert limited_for(hint, status=200, tokens_needed=5) is None  # a request like it fits


def test_a_429_marks_for_its_retry_after_with_no_room() -> None:
    hint = read_hint({"retry-after-ms": "1500"}, NOW)
    assert hint == RateHint(retry_after_s=1.5)
    assert limited_for(hint, status=429, tokens_needed=1) == (1.5, 0.0, "429 retry-after")
    assert limited_for(hint, status=200, tokens_needed=1) is None
    assert read_hint({"content-type": "application/json"}, NOW) is None


def test_a_reset_far_away_is_capped() -> None:
    hint = RateHint(requests_remaining=0, requests_reset_s=10 * 86_400)
    found = limited_for(hint, status=200, tokens_needed=1)
    assert found is not None and found[0] == MAX_MARK_S


# -- steering only ever narrows the plan ------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    marks=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.tuples(st.sampled_from([0.0, 3.0, 50.0, 1e6]), st.just("provider headers")),
    ),
    max_tokens=st.sampled_from([None, 10, 500]),
)
def test_rate_limit_marks_never_add_a_target_nor_empty_a_plan(
    marks: dict[str, tuple[float, str]], max_tokens: int | None
) -> None:
    from router.config import load_dict
    from router.policy import Policy, Snapshot
    from router.types import ChatRequest, RequestContext

    cfg = {
        "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1", "zone": "local"}},
        "models": {n: {"provider": "p", "model": n} for n in "abcd"},
        "rules": [{"name": "not-d", "deny": {"model": ["d"]}}],
        "routes": {"r": {"candidates": ["a", "b", "c", "d"]}},
    }
    policy = Policy(load_dict(cfg))
    req = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    )
    ctx = RequestContext()
    free = policy.decide(req, ctx, Snapshot(now=NOW, request_id="x"), model="r")
    marked = policy.decide(
        req, ctx, Snapshot(now=NOW, request_id="x", rate_limited=marks), model="r"
    )
    names = [t.name for t in marked.plan]
    assert set(names) <= {t.name for t in free.plan}  # policy closure: never a target more
    assert names  # never emptied: all marked means all stay
    assert "d" not in names
    # A marked target the request does not fit is left out while another remains.
    need = marked.input_tokens + (max_tokens or 0)
    unfit = {n for n, (room, _) in marks.items() if room < max(1, need)}
    if {t.name for t in free.plan} - unfit:
        assert not set(names) & unfit
