"""Rate limits through the router, against the fault server: skip, wait, never exceed,
give every in-flight slot back, steer by the provider's headers, explain, count."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from router import AsyncRouter, Router
from router.errors import ConfigError, ProviderUnavailable, RateLimitError
from router.state import MemoryStore
from router.telemetry import semconv as sc
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config, run

pytest_plugins = ["tests.resilience_fixtures", "tests.telemetry_fixtures"]

MODES = ("sync", "async")
NO_RETRY = {"attempts": 1}


def _config(faults: FaultServer, *names: str, **limits: dict[str, Any]) -> dict[str, Any]:
    """Targets ``names`` in that order behind route ``r``; ``limits`` per model."""
    cfg = make_config(faults, [{"name": n} for n in names], retry=NO_RETRY)
    for name, lim in limits.items():
        cfg["models"][name]["limits"] = lim
    return cfg


def _calls(cfg: dict[str, Any] | Router | AsyncRouter, mode: str, n: int) -> list[Any]:
    """``n`` calls one after another through one router (fresh for a config)."""
    if mode == "sync":
        r = cfg if isinstance(cfg, Router) else Router(cfg)  # type: ignore[arg-type]
        try:
            return [run(r, mode="sync", stream=False) for _ in range(n)]
        finally:
            if r is not cfg:
                r.close()

    async def go() -> list[Any]:
        async with AsyncRouter(cfg) as r:  # type: ignore[arg-type]
            return [await r_call(r) for _ in range(n)]

    async def r_call(r: AsyncRouter) -> Any:
        from tests.faultserver.harness import _async

        return await _async(r, False, None, "r")

    return asyncio.run(go())


# -- skip, wait, give up ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_target_at_its_rpm_is_skipped_to_the_next(faults: FaultServer, mode: str) -> None:
    out = _calls(_config(faults, "a", "b", a={"rpm": 2}), mode, 3)
    assert [o.summary() for o in out] == [
        [("a", "ok", 200, None)],
        [("a", "ok", 200, None)],
        [("a", "rate_limited", None, None), ("b", "ok", 200, None)],
    ]
    assert faults.count("a") == 2  # the third call never reached it


@pytest.mark.parametrize("mode", MODES)
def test_the_last_target_at_its_limit_fails_without_sending(faults: FaultServer, mode: str) -> None:
    out = _calls(_config(faults, "a", a={"rpm": 1}), mode, 2)
    assert out[0].text == "Hello from a"
    err = out[1].error
    assert isinstance(err, RateLimitError) and err.code == "rate_limited"
    assert err.status == 429 and err.target == "a"
    assert err.retry_after_s is not None and 55 < err.retry_after_s <= 61
    assert out[1].summary() == [("a", "rate_limited", None, None)]
    assert faults.count("a") == 1


def test_an_oversized_request_is_refused_even_with_time_to_wait(faults: FaultServer) -> None:
    # 1000 output tokens never fit a 500-token minute: no point waiting.
    cfg = _config(faults, "a", a={"tpm": 500, "max_wait_s": 30})
    with Router(cfg) as r, pytest.raises(RateLimitError) as e:
        r.chat(MESSAGES, model="r", max_tokens=1000)
    assert e.value.code == "rate_limited" and e.value.retry_after_s is None
    assert faults.count("a") == 0


@pytest.mark.parametrize("mode", MODES)
def test_the_last_target_waits_for_a_slot_up_to_max_wait_s(faults: FaultServer, mode: str) -> None:
    faults.default("a", Fault.ok(delay_s=0.15))
    cfg = _config(faults, "a", a={"max_in_flight": 1, "max_wait_s": 5})
    texts = _concurrently(cfg, mode, 3)
    assert texts == ["Hello from a"] * 3  # each waited its turn
    assert faults.peak_in_flight("a") == 1


@pytest.mark.parametrize("mode", MODES)
def test_max_in_flight_is_never_exceeded_under_concurrency(faults: FaultServer, mode: str) -> None:
    faults.default("a", Fault.ok(delay_s=0.1))
    faults.default("b", Fault.ok(delay_s=0.1))
    cfg = _config(faults, "a", "b", a={"max_in_flight": 2})
    cfg["providers"]["b"]["limits"] = {"max_in_flight": 3, "max_wait_s": 10}
    texts = _concurrently(cfg, mode, 12)
    assert len(texts) == 12 and all(t.startswith("Hello from") for t in texts)
    assert faults.peak_in_flight("a") <= 2
    assert faults.peak_in_flight("b") <= 3
    assert faults.count("a") >= 2 and faults.count("b") >= 3  # both were used to the full


def _concurrently(cfg: dict[str, Any], mode: str, n: int) -> list[str]:
    """``n`` calls at once through one router: threads (sync) or tasks (async)."""
    if mode == "sync":
        out: list[str] = []
        lock = threading.Lock()
        with Router(cfg) as r:

            def one() -> None:
                text = r.chat(MESSAGES, model="r").content or ""
                with lock:
                    out.append(text)

            threads = [threading.Thread(target=one) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        return sorted(out)

    async def go() -> list[str]:
        async with AsyncRouter(cfg) as r:
            replies = await asyncio.gather(*(r.chat(MESSAGES, model="r") for _ in range(n)))
        return sorted(x.content or "" for x in replies)

    return asyncio.run(go())


# -- every path gives its in-flight slot back -----------------------------------------


def _one_slot(faults: FaultServer) -> dict[str, Any]:
    return _config(faults, "a", a={"max_in_flight": 1})


def test_the_slot_comes_back_after_success_failure_and_a_stream_closed_early(
    faults: FaultServer,
) -> None:
    with Router(_one_slot(faults)) as r:
        assert r.chat(MESSAGES, model="r").content == "Hello from a"
        faults.script("a", Fault.http(500))
        with pytest.raises(ProviderUnavailable):
            r.chat(MESSAGES, model="r")
        with r.stream(MESSAGES, model="r") as s:
            next(iter(s))  # read one chunk, then leave
        faults.script("a", Fault.stream_error(after=1))
        with pytest.raises(Exception), r.stream(MESSAGES, model="r") as s:  # noqa: B017
            for _ in s:
                pass
        # Had any of those kept its slot, this call would be refused (max_wait_s 0).
        assert r.chat(MESSAGES, model="r").content == "Hello from a"
        assert r.chat(MESSAGES, model="r").content == "Hello from a"


def test_the_slot_comes_back_after_cancellation_and_async_paths(faults: FaultServer) -> None:
    async def go() -> None:
        async with AsyncRouter(_one_slot(faults)) as r:
            faults.script("a", Fault.hang(5))
            task = asyncio.create_task(r.chat(MESSAGES, model="r"))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            s = r.stream(MESSAGES, model="r")
            async with s:
                async for _ in s:
                    break  # closed early
            faults.script("a", Fault.http(503))
            with pytest.raises(ProviderUnavailable):
                await r.chat(MESSAGES, model="r")
            reply = await r.chat(MESSAGES, model="r")
            assert reply.content == "Hello from a"

    asyncio.run(go())


# -- tpm: estimated at admission, corrected on settle ---------------------------------


def test_tpm_estimates_are_corrected_to_the_reported_usage(faults: FaultServer) -> None:
    # Each call may use 5 + 60 tokens; the server reports 5 + 4. Without the
    # correction the second call would not fit 100 tokens a minute.
    # One slot as well: the correction gives the slot back in the same operation,
    # so a call that kept it would refuse the next.
    store = MemoryStore()
    with Router(_config(faults, "a", a={"tpm": 100, "max_in_flight": 1}), store=store) as r:
        first = r.chat(MESSAGES, model="r", max_tokens=60)
        assert first.usage is not None and first.usage.total_tokens < 20
        second = r.chat(MESSAGES, model="r", max_tokens=60)
        assert second.route is not None and second.route.target == "a"
        with pytest.raises(RateLimitError):  # 2 x 9 used, 65 more does not fit
            r.chat(MESSAGES, model="r", max_tokens=90)


# -- rules: per tenant ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_rule_limits_each_tenant_on_its_own(faults: FaultServer, mode: str) -> None:
    cfg = _config(faults, "a", "b")
    cfg["rules"] = [{"name": "per-tenant", "limit": {"rpm": 2, "key": "tenant"}}]
    acme, other = {"tenant": "acme"}, {"tenant": "other"}
    if mode == "sync":
        with Router(cfg) as r:
            outs = [run(r, mode="sync", stream=False, context=c) for c in (acme, acme, acme, other)]
    else:

        async def go() -> list[Any]:
            from tests.faultserver.harness import _async

            async with AsyncRouter(cfg) as r:
                return [await _async(r, False, c, "r") for c in (acme, acme, acme, other)]

        outs = asyncio.run(go())
    assert [o.text for o in outs] == ["Hello from a", "Hello from a", None, "Hello from a"]
    err = outs[2].error
    # No other target would help: the call fails at once, nothing sent.
    assert isinstance(err, RateLimitError) and err.code == "rate_limited"
    assert faults.count("a") == 3 and faults.count("b") == 0


# -- the provider's headers, shared through the store -----------------------------------

OPENAI_EMPTY = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "6m0s",
    "x-ratelimit-remaining-tokens": "20000",
    "x-ratelimit-reset-tokens": "20ms",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault",
    [
        Fault.ok(headers=OPENAI_EMPTY),
        Fault.rate_limit(seconds=30),
        Fault.ok(headers={"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m"}),
    ],
    ids=["no-requests-left", "429-retry-after", "no-tokens-left"],
)
def test_another_router_sharing_the_store_steers_away(
    faults: FaultServer, tmp_path: Path, mode: str, fault: Fault
) -> None:
    cfg = _config(faults, "a", "b")
    cfg["state"] = f"sqlite:///{tmp_path / 'state.db'}"
    _steers(faults, cfg, mode, fault)


@pytest.mark.redis
@pytest.mark.parametrize("mode", MODES)
def test_routers_sharing_redis_steer_away(faults: FaultServer, redis_url: str, mode: str) -> None:
    cfg = _config(faults, "a", "b")
    cfg["state"] = redis_url
    _steers(faults, cfg, mode, Fault.ok(headers=OPENAI_EMPTY))


def _steers(faults: FaultServer, cfg: dict[str, Any], mode: str, fault: Fault) -> None:
    faults.script("a", fault)
    first = _calls(cfg, mode, 1)[0]  # one router (one process, say) hears the headers
    second = _calls(cfg, mode, 1)[0]  # another one, sharing the store, steers away
    assert first.summary()[0][0] == "a"
    assert second.summary() == [("b", "ok", 200, None)]
    assert faults.count("a") == 1
    with Router(cfg) as r:
        d = r.explain(MESSAGES, model="r")
    assert [t.name for t in d.plan] == ["b"]
    (why,) = d.excluded["a"]
    assert why.startswith("rate limited: ") and " until " in why


def test_few_tokens_left_steer_only_the_requests_that_would_not_fit(faults: FaultServer) -> None:
    few = {"x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "30s"}
    faults.script("a", Fault.ok(headers=few))
    with Router(_config(faults, "a", "b")) as r:
        big = r.chat(MESSAGES, model="r", max_tokens=500)  # 100 left: another like it won't fit
        assert big.route is not None and big.route.target == "a"
        small = r.chat(MESSAGES, model="r", max_tokens=20)
        assert small.route is not None and small.route.target == "a"
        again = r.chat(MESSAGES, model="r", max_tokens=500)
        assert again.route is not None and again.route.target == "b"
        d = r.explain(MESSAGES, model="r", max_tokens=500)
        assert d.excluded["a"][0].startswith("rate limited: 100 tokens remaining")


def test_anthropic_headers_mark_the_target_until_their_reset(
    faults: FaultServer, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    reset = (datetime.now(UTC) + timedelta(seconds=40)).isoformat().replace("+00:00", "Z")
    cfg = make_config(faults, [{"name": "a", "wire": "anthropic"}, {"name": "b"}], retry=NO_RETRY)
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset,
    }
    faults.script("a", Fault.ok(headers=headers))
    with Router(cfg) as r:
        assert r.chat(MESSAGES, model="r").route.target == "a"  # type: ignore[union-attr]
        assert r.chat(MESSAGES, model="r").route.target == "b"  # type: ignore[union-attr]
        mark = r.store.get("rl:a")
    assert mark is not None
    until = float(mark.split(" ", 1)[0])
    assert abs(until - (datetime.now(UTC) + timedelta(seconds=40)).timestamp()) < 5


def test_when_every_target_is_marked_they_all_stay_in_the_plan(faults: FaultServer) -> None:
    faults.script("a", Fault.ok(headers=OPENAI_EMPTY))
    with Router(_config(faults, "a")) as r:
        r.chat(MESSAGES, model="r")
        d = r.explain(MESSAGES, model="r")
        # Nothing else to go to: the provider decides (the walk sends as before).
        assert [t.name for t in d.plan] == ["a"]
        assert any("every admitted target is at a rate limit" in n for n in d.notes)
        assert r.chat(MESSAGES, model="r").content == "Hello from a"


# -- metric -------------------------------------------------------------------------------


def test_rate_limited_targets_are_counted(faults: FaultServer, otel: Any) -> None:
    faults.script("a", Fault.ok(headers=OPENAI_EMPTY))
    cfg = _config(faults, "a", "b", "c", b={"rpm": 1})
    with Router(cfg, **otel.providers) as r:
        r.chat(MESSAGES, model="r")  # a answers, says it has nothing left
        r.chat(MESSAGES, model="r")  # a left out of the plan; b answers
        r.chat(MESSAGES, model="r")  # a left out; b at its rpm; c answers
    points = otel.points(sc.METRIC_RATE_LIMITED)
    got = {(p.attributes[sc.TARGET], p.attributes[sc.RATE_LIMITED_WHERE]): p.value for p in points}
    assert got == {("a", "plan"): 2, ("b", "walk"): 1}


# -- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("model", {}, "at least one of rpm, tpm, max_in_flight"),
        ("model", {"rpm": 0}, "greater than 0"),
        ("provider", {"max_wait_s": 3}, "at least one of rpm, tpm, max_in_flight"),
        ("provider", {"rpm": 10, "burst": 3}, "burst"),
        ("rule", {"key": "tenant"}, "apply to rpm or tpm"),
        ("rule", {"rpm": 5, "key": "ip"}, "unknown limit key 'ip'"),
        ("rule", {"tpm": -1}, "greater than 0"),
    ],
)
def test_bad_limits_are_clear_errors(
    faults: FaultServer, where: str, value: dict[str, Any], message: str
) -> None:
    cfg = _config(faults, "a")
    if where == "model":
        cfg["models"]["a"]["limits"] = value
    elif where == "provider":
        cfg["providers"]["a"]["limits"] = value
    else:
        cfg["rules"] = [{"name": "x", "limit": value}]
    with pytest.raises(ConfigError, match=message):
        Router(cfg)


# -- the CLI ------------------------------------------------------------------------------


def test_cli_explain_live_shows_a_target_excluded_for_its_limit(
    faults: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from router.cli import main

    cfg = _config(faults, "a", "b")
    cfg["state"] = f"sqlite:///{tmp_path / 'state.db'}"
    path = tmp_path / "router.json.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    faults.script("a", Fault.rate_limit(seconds=90))
    _calls(cfg, "sync", 1)  # a answers 429 with retry-after: 90 s
    assert main(["explain", str(path), "--model", "r", "--message", "hi"]) == 0
    offline = capsys.readouterr().out
    assert "excluded" not in offline  # without --live, explain reads no state
    assert main(["explain", str(path), "--model", "r", "--message", "hi", "--live"]) == 0
    live = capsys.readouterr().out
    line = next(x for x in live.splitlines() if x.split()[1:2] == ["a"])
    assert "excluded: rate limited: 429 retry-after until " in line
    assert faults.count("a") == 1


def test_explain_names_the_rules_rate_limits(faults: FaultServer) -> None:
    cfg = _config(faults, "a")
    cfg["rules"] = [
        {"name": "fair", "limit": {"rpm": 60, "tpm": 5000, "key": "user", "max_cost_usd": 1}}
    ]
    with Router(cfg) as r:
        d = r.explain(MESSAGES, model="r", context={"user": "u1"})
    assert "rate limit: rpm=60, tpm=5000 per user (rule fair)" in d.explain()
    assert d.to_dict()["rate_limits"] == [
        {"rule": "fair", "rpm": 60, "tpm": 5000, "key": "user", "max_wait_s": 0.0}
    ]
    # The ceilings of the same limit: keep their meaning.
    assert d.limits.max_cost_usd == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_hedge_takes_the_limits_too(faults: FaultServer, mode: str) -> None:
    # a is slow but well within its read timeout, however loaded the machine is
    faults.default("a", Fault.ok(delay_s=0.3))
    cfg = _config(faults, "a", "b", b={"rpm": 1})
    cfg["providers"]["a"]["timeout"] = {**cfg["providers"]["a"]["timeout"], "read_s": 5.0}
    cfg["routes"]["r"]["hedge_after_ms"] = 30
    out = _calls(cfg, mode, 2)
    assert out[0].text == "Hello from b"  # the hedge won
    assert out[1].text == "Hello from a"  # b at its rpm: no hedge, a answered
    assert ("b", "ok", 200, None) not in out[1].summary()
    assert faults.count("b") == 1


def test_the_gateway_answers_a_routers_own_limit_with_429_and_retry_after() -> None:
    from router.gateway.errors import classify

    err = RateLimitError(
        "a: limit reached: model:a:rpm; room in 12.3s",
        status=429,
        code="rate_limited",
        target="a",
        retry_after_s=12.3,
    )
    out = classify(err)
    assert (out.status, out.code, out.type) == (429, "rate_limited", "rate_limit_error")
    assert out.headers == {"retry-after": "13"}
    assert "upstream" not in out.message  # nothing reached a provider


@pytest.mark.parametrize("b_limits", [None, {"tpm": 1000}], ids=["b-free", "b-tpm"])
def test_a_rules_tpm_is_corrected_when_a_later_try_answers(
    faults: FaultServer, b_limits: dict[str, Any] | None
) -> None:
    # The rule's tokens are taken with the first try (a, which fails); the answer
    # comes from b (with a tpm of its own: corrected at its own time, a second
    # operation). The correction still reaches the rule's window.
    cfg = _config(faults, "a", "b", **({"b": b_limits} if b_limits else {}))
    cfg["rules"] = [{"name": "per-tenant", "limit": {"tpm": 100, "key": "tenant"}}]
    faults.script("a", Fault.http(500))
    with Router(cfg) as r:
        first = r.chat(MESSAGES, model="r", max_tokens=60, context={"tenant": "t"})
        assert first.route is not None and [a.outcome for a in first.route.attempts] == [
            "error",
            "ok",
        ]
        second = r.chat(MESSAGES, model="r", max_tokens=60, context={"tenant": "t"})
        assert second.content == "Hello from a"


# -- shadows ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_shadow_copies_take_their_targets_limits_but_not_the_tenants(
    faults: FaultServer, mode: str
) -> None:
    import time

    from router.state.base import LimitCharge

    cfg = _config(faults, "a", "b", b={"rpm": 2, "tpm": 100_000, "max_in_flight": 1})
    cfg["routes"]["r"] = {"candidates": ["a"], "shadow": {"model": "b", "sample_pct": 100}}
    cfg["rules"] = [{"name": "per-tenant", "limit": {"rpm": 3, "key": "tenant"}}]
    ctx = {"tenant": "acme"}
    store = MemoryStore()
    if mode == "sync":
        r = Router(cfg, store=store)
        for _ in range(3):
            r.chat(MESSAGES, model="r", context=ctx)
            time.sleep(0.15)  # one copy at a time: max_in_flight is not what refuses
        r.close()  # waits for the copies in flight
    else:

        async def go() -> None:
            async with AsyncRouter(cfg, store=store) as r:
                for _ in range(3):
                    await r.chat(MESSAGES, model="r", context=ctx)
                    await asyncio.sleep(0.15)

        asyncio.run(go())
    # The tenant made three calls: its rpm of 3 was not spent by the copies.
    assert faults.count("a") == 3
    # b's rpm of 2 admitted two copies; the third was refused before sending.
    assert faults.count("b") == 2
    # Every slot the copies held came back when they settled or failed.
    slot = LimitCharge("model:b:inflight", 1)
    assert store.limit_acquire("probe", [slot], now=time.time(), hold_s=1).ok


def test_the_marks_are_read_at_most_once_a_second_per_process(faults: FaultServer) -> None:
    from collections.abc import Sequence

    class Counting(MemoryStore):
        reads = 0

        def get_many(self, keys: Sequence[str]) -> list[str | None]:
            if any(k.startswith("rl:") for k in keys):
                Counting.reads += 1
            return super().get_many(keys)

    store = Counting()
    faults.script("a", Fault.ok(headers=OPENAI_EMPTY))
    with Router(_config(faults, "a", "b"), store=store) as r:
        targets = [r.chat(MESSAGES, model="r").route.target for _ in range(6)]  # type: ignore[union-attr]
    # On Redis a read is a round trip: one for six calls, and the process's own
    # mark (a said it had nothing left) steered the next calls at once.
    assert Counting.reads == 1
    assert targets == ["a"] + ["b"] * 5
