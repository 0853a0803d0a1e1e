"""Money hardening: usage-less streams, timed-out paid sends, local_only, hard ceilings."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import respx

from router import AsyncRouter, Router
from router.accounting import BudgetGate, ExactCounter, read_ledger
from router.accounting.pricing import output_tokens_for, worst_case_cost_usd
from router.accounting.tokens import FastCounter
from router.config import load_dict
from router.config.schema import BudgetEffect
from router.errors import BudgetExceeded, NoEligibleTarget, ProviderTimeout
from router.policy import Policy
from router.policy.lint import lint
from router.state import MemoryStore
from router.types import ChatRequest, ChatResponse, RequestContext
from tests.money_helpers import FakeProvider, money_config
from tests.policy_fixtures import policy as fixture_policy
from tests.telemetry_support import sse

pytest_plugins = ["tests.money_fixtures"]

HI = [{"role": "user", "content": "hi"}]
SSE = {"content-type": "text/event-stream"}
# 16 characters, 48 UTF-8 bytes: chars/4 says 4 tokens, byte-level BPE needs up to 48.
JAPANESE = "日本語の文章はトークンが多いです"


def budget_rule(usd: float, on: str = "deny") -> dict[str, Any]:
    return {
        "name": "team-daily",
        "budget": {"usd": usd, "per": "day", "key": "tenant", "on_exhausted": on},
    }


def answered_stream(r: Router, text: str, **params: Any) -> ChatResponse:
    """Stream from ``paid`` (on 127.0.0.1:9), whose server sends ``text`` and no usage."""
    with respx.mock(assert_all_called=True) as mock:
        mock.post("http://127.0.0.1:9/v1/chat/completions").respond(
            200, content=sse("paid-model", [text], usage=False), headers=SSE
        )
        with r.stream(HI, context={"tenant": "a"}, **params) as s:
            assert "".join(c.delta_text for c in s) == text
    response = s.response
    assert response.route is not None and response.route.target == "paid"
    return response


# --- a. a stream without usage commits the upper bound ------------------------------


def test_usage_less_stream_commits_the_upper_bound_not_chars_over_4() -> None:
    cfg = money_config("http://127.0.0.1:9/v1", rules=[budget_rule(100.0)])
    with Router.from_dict(cfg) as r:
        resp = answered_stream(r, JAPANESE * 10, max_tokens=2000)
        (rec,) = read_ledger(r.store)
    usage = resp.usage
    assert usage is not None and usage.estimated and rec.estimated
    # Never below what a byte-level BPE tokenizer can count (chars/4 would say 40).
    assert rec.completion_tokens >= len((JAPANESE * 10).encode()) == 480
    # The prompt side is the very bound the reservation used.
    req = ChatRequest(messages=HI, max_tokens=2000)  # type: ignore[arg-type]
    assert rec.prompt_tokens == FastCounter().upper_bound(req)
    assert rec.cost_usd == pytest.approx(resp.route.cost_usd if resp.route else -1)
    assert rec.cost_usd == pytest.approx(
        (rec.prompt_tokens * 1000 + rec.completion_tokens * 2000) / 1e6
    )
    assert usage.completion_tokens == rec.completion_tokens
    assert rec.excess_usd == 0  # within the hold: the reservation's cap was not passed


def test_usage_less_bound_never_passes_the_output_cap_that_was_sent() -> None:
    # The route sends max_tokens 10: the provider cannot have produced more.
    cfg = money_config("http://127.0.0.1:9/v1", rules=[budget_rule(100.0)])
    with Router.from_dict(cfg) as r:
        answered_stream(r, JAPANESE * 10)
        (rec,) = read_ledger(r.store)
    assert rec.completion_tokens == 10 and rec.estimated and rec.excess_usd == 0
    assert rec.cost_usd == pytest.approx(rec.reserved_usd)


def test_usage_less_stream_is_counted_exactly_with_a_tokenizer() -> None:
    cfg = money_config("http://127.0.0.1:9/v1", rules=[budget_rule(100.0)])
    with Router.from_dict(cfg) as r:
        # One token per character, no template overhead.
        r.budget.counter = ExactCounter(lambda s: [ord(c) for c in s], per_message=0, priming=0)
        resp = answered_stream(r, JAPANESE, max_tokens=2000)
        (rec,) = read_ledger(r.store)
    assert rec.completion_tokens == len(JAPANESE) and rec.prompt_tokens == len("hi")
    assert rec.estimated and resp.route is not None and resp.route.cost_estimated


def test_usage_less_stream_through_the_server_is_flagged_and_bounded(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.usage = False
    cfg = money_config(fake_provider.base_url, rules=[budget_rule(1.0)])
    with Router.from_dict(cfg) as r:
        with r.stream(HI, context={"tenant": "a"}) as s:
            text = "".join(c.delta_text for c in s)
        (rec,) = read_ledger(r.store)
    assert rec.estimated and rec.excess_usd == 0
    assert rec.completion_tokens == min(len(text.encode()) + 8, 10)


# --- b. a paid send that timed out is recorded, the budget keeps it ----------------------


def holds(r: Router | AsyncRouter, key: str) -> tuple[float, int]:
    u = r.store.budget_usage(key, now=r.budget.clock())
    return u.spent_usd, u.holds


def test_timed_out_paid_send_is_recorded_as_unknown_and_stays_spent(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.delay_s = 1.0
    cfg = money_config(fake_provider.base_url, rules=[budget_rule(1.0)])
    with Router.from_dict(cfg) as r:
        with pytest.raises(ProviderTimeout):
            r.chat(HI, context={"tenant": "a", "deadline_s": 0.3})
        recs = read_ledger(r.store)
        assert fake_provider.requests >= 1
        assert len(recs) == fake_provider.requests  # one record per send that got there
        for rec in recs:
            assert rec.outcome == "unknown" and rec.estimated and rec.target == "paid"
            # The reservation's worst case: 18 input (bound) + 10 output tokens.
            assert rec.cost_usd == pytest.approx(0.038) == rec.reserved_usd
        spent, held = holds(r, recs[0].budgets[0])
        assert spent == pytest.approx(0.038 * len(recs)) and held == 0


def test_timed_out_paid_send_without_a_budget_is_still_in_the_ledger(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.delay_s = 1.0
    with Router.from_dict(money_config(fake_provider.base_url)) as r:
        with pytest.raises(ProviderTimeout):
            r.chat(HI, context={"deadline_s": 0.3})
        (rec,) = read_ledger(r.store)
    assert rec.outcome == "unknown" and rec.cost_usd == pytest.approx(0.038)
    assert rec.budgets == ()


def test_timed_out_local_send_costs_nothing(fake_provider: FakeProvider) -> None:
    fake_provider.delay_s = 1.0
    cfg = money_config(fake_provider.base_url, rules=[budget_rule(1.0)])
    with Router.from_dict(cfg) as r:
        with pytest.raises(ProviderTimeout):
            r.chat(HI, model="local", context={"tenant": "a", "deadline_s": 0.3})
        assert read_ledger(r.store) == []


async def test_async_timed_out_paid_send_is_recorded(fake_provider: FakeProvider) -> None:
    fake_provider.delay_s = 1.0
    cfg = money_config(fake_provider.base_url, rules=[budget_rule(1.0)])
    async with AsyncRouter.from_dict(cfg) as r:
        with pytest.raises(ProviderTimeout):
            await r.chat(HI, context={"tenant": "a", "deadline_s": 0.3})
        recs = read_ledger(r.store)
        assert len(recs) >= 1 and {x.outcome for x in recs} == {"unknown"}
        spent, held = holds(r, recs[0].budgets[0])
        assert spent == pytest.approx(sum(x.cost_usd for x in recs)) and held == 0


def test_only_timeouts_after_sending_count() -> None:
    from router.execution.executor import reached_provider

    assert not reached_provider(ProviderTimeout("ConnectTimeout", code="timeout"))
    assert not reached_provider(ProviderTimeout("PoolTimeout", code="timeout"))
    assert reached_provider(ProviderTimeout("ReadTimeout", code="timeout"))
    assert reached_provider(ProviderTimeout("no answer within 1s", code="deadline"))


def test_a_timed_out_send_before_an_answer_is_recorded_too(fake_provider: FakeProvider) -> None:
    # The paid target timed out after the request was sent, the walk fell back to
    # the local target, which answered: the paid send may be billed all the same.
    fake_provider.delay_s = 1.0
    fast = FakeProvider()
    try:
        cfg = money_config(fake_provider.base_url, rules=[budget_rule(1.0)])
        cfg["providers"]["paid-api"]["timeout"] = {"read_s": 0.3}
        cfg["providers"]["gpu-box"]["base_url"] = fast.base_url
        with Router.from_dict(cfg) as r:
            resp = r.chat(HI, model="mixed", context={"tenant": "a"})
            assert resp.route is not None and resp.route.target == "local"
            recs = read_ledger(r.store)
            spent, held = holds(r, next(x for x in recs if x.budgets).budgets[0])
    finally:
        fast.close()
    unknown = [x for x in recs if x.outcome == "unknown"]
    assert len(unknown) == fake_provider.requests >= 1
    assert all(x.target == "paid" and x.estimated for x in unknown)
    assert all(x.cost_usd == pytest.approx(0.038) for x in unknown)
    assert [x.target for x in recs if x.outcome == "ok"] == ["local"]
    assert spent == pytest.approx(0.038 * len(unknown)) and held == 0


# --- c. local_only means zone local; validate warns about unpriced models ------------------


def unpriced_config(**extra: Any) -> dict[str, Any]:
    cfg = money_config("http://127.0.0.1:9/v1", **extra)
    cfg["models"]["mystery"] = {"provider": "paid-api", "model": "frontier-without-price"}
    cfg["routes"]["open"] = {"candidates": ["paid", "mystery", "local"], "max_tokens": 10}
    cfg["routes"]["hosted"] = {"candidates": ["paid", "mystery"], "max_tokens": 10}
    return cfg


def test_local_only_narrows_to_zone_local_not_to_unpriced_models() -> None:
    p = Policy(load_dict(unpriced_config()))
    g = BudgetGate(MemoryStore())
    eff = BudgetEffect(usd=0.03, per="day", key="tenant", on_exhausted="local_only")
    team = RequestContext(tenant="t")
    req = ChatRequest(messages=HI, max_tokens=10)  # type: ignore[arg-type]
    d = dataclasses.replace(p.decide(req, team, model="open"), budgets=(("team", eff),))
    g.admit(req, team, d)  # holds most of the budget
    _, narrowed, hold = g.admit(req, team, d)
    assert narrowed.target_names == ("local",)
    assert "local_only" in narrowed.excluded["mystery"][0]
    assert hold.amount_usd == 0
    d2 = dataclasses.replace(p.decide(req, team, model="hosted"), budgets=(("team", eff),))
    with pytest.raises(BudgetExceeded, match="zone local"):
        g.admit(req, team, d2)


@pytest.mark.parametrize(
    "rule",
    [
        budget_rule(5.0),
        {"name": "cap", "limit": {"max_cost_usd": 0.5}},
        {"name": "vip", "when": {"tenant": "vip"}, "override": ["max_cost_usd"]},
    ],
)
def test_validate_warns_about_unpriced_models_where_money_is_limited(
    rule: dict[str, Any],
) -> None:
    warnings = lint(load_dict(unpriced_config(rules=[rule])))
    assert any(w.startswith("models.mystery: no price (zone frontier)") for w in warnings)
    assert not any(w.startswith("models.local:") for w in warnings)


def test_validate_is_quiet_about_unpriced_models_without_money_limits() -> None:
    assert not any("no price" in w for w in lint(load_dict(unpriced_config())))


# --- d. max_cost_usd is checked against the reservation's bound ---------------------------


def test_emoji_prompt_cannot_slip_under_the_ceiling() -> None:
    # 19,000 emoji: chars/4 says 4,750 tokens ($0.0095 on gpt), bytes say 76,000 ($0.15).
    p = fixture_policy(rules=[{"name": "cap", "limit": {"max_cost_usd": 0.01}}])
    req = ChatRequest(messages=[{"role": "user", "content": "😀" * 19_000}], max_tokens=1)  # type: ignore[list-item]
    d = p.decide(req)
    assert "gpt" not in d.target_names and "hosted" not in d.target_names
    assert any("max_cost_usd" in why for why in d.excluded["gpt"])
    bound = FastCounter().upper_bound(req)
    assert d.input_tokens_bound == bound
    for t in p.targets.values():
        worst = worst_case_cost_usd(t, bound, output_tokens_for(t, 1))
        assert (t.name in d.target_names) == (worst <= 0.01 and t.name not in d.excluded)


def test_ceiling_and_reservation_use_the_same_worst_case() -> None:
    p = Policy(load_dict(money_config("http://127.0.0.1:9/v1")))
    req = ChatRequest(messages=[{"role": "user", "content": "😀" * 40}], max_tokens=10)  # type: ignore[list-item]
    # estimate: 10 + 4 tokens -> $0.034; bound: 160 + 16 tokens -> $0.196
    with pytest.raises(NoEligibleTarget, match="max_cost_usd"):
        p.decide(req, RequestContext(max_cost_usd=0.05), model="default")
    d = p.decide(req, RequestContext(max_cost_usd=0.2), model="default")
    gate = BudgetGate(MemoryStore())
    est = gate.estimate(req, d.plan, d)
    assert est.input_tokens_bound == d.input_tokens_bound == 176
    assert est.reserve_usd["paid"] == pytest.approx(d.costs["paid"]) == pytest.approx(0.196)


def test_gate_hold_matches_the_policy_worst_case_in_a_call() -> None:
    p = Policy(load_dict(money_config("http://127.0.0.1:9/v1")))
    req = ChatRequest(messages=[{"role": "user", "content": "ü" * 30}], max_tokens=10)  # type: ignore[list-item]
    team = RequestContext(tenant="t")
    eff = BudgetEffect(usd=1.0, per="day", key="tenant")
    d = dataclasses.replace(p.decide(req, team, model="default"), budgets=(("team", eff),))
    _, _, hold = BudgetGate(MemoryStore()).admit(req, team, d)
    # 30 x 2 bytes + 16 = 76 input tokens, 10 output: what the policy's ceiling priced.
    assert hold.amount_usd == pytest.approx(d.costs["paid"]) == pytest.approx(0.096)
