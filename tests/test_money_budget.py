"""The budget gate: ceilings, reservations, deny / local_only, commit, release, expiry."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from router.accounting import BudgetGate, ExactCounter, read_ledger
from router.accounting.budget import EXTRA_KEY, budget_key_value
from router.accounting.tokens import ASSUMED_OUTPUT_TOKENS, FastCounter, estimate_tokens
from router.config import load_dict
from router.config.schema import BudgetEffect
from router.errors import BudgetExceeded, ConfigError, NoEligibleTarget
from router.execution.call import Call
from router.execution.walker import Send, Walker
from router.policy import Decision, Policy
from router.providers.openai_compatible import OpenAICompatibleAdapter
from router.state import MemoryStore
from router.types import ChatRequest, ChatResponse, Choice, ChoiceMessage, RequestContext, Usage
from tests.money_helpers import money_config

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def policy() -> Policy:
    return Policy(load_dict(money_config("http://127.0.0.1:9/v1")))


def request(text: str = "hello there", max_tokens: int | None = 10) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], max_tokens=max_tokens)  # type: ignore[list-item]


def decision(
    policy: Policy, route: str = "default", *budgets: tuple[str, BudgetEffect], **kw: Any
) -> Decision:
    d = policy.decide(request(), RequestContext(), model=route)
    return dataclasses.replace(d, budgets=budgets, **kw)


def per_day(usd: float, on: str = "deny", key: str = "tenant") -> BudgetEffect:
    return BudgetEffect(usd=usd, per="day", key=key, on_exhausted=on)  # type: ignore[arg-type]


def exact() -> ExactCounter:
    # One token per word, no template overhead: numbers a test can compute by hand.
    return ExactCounter(lambda s: s.split(), per_message=0, priming=0)


def gate(store: MemoryStore | None = None, clock: Clock | None = None) -> BudgetGate:
    return BudgetGate(store or MemoryStore(), counter=exact(), clock=clock or Clock(), hold_s=60)


def make_call(req: ChatRequest, ctx: RequestContext, d: Decision, hold: Any) -> Call:
    from router.config.schema import RouteConfig

    route = RouteConfig(candidates=d.target_names)
    call = Call(req, ctx, d, route, Walker(d, route))
    call.extra[EXTRA_KEY] = hold
    return call


def response(prompt: int, completion: int, estimated: bool = False) -> ChatResponse:
    return ChatResponse(
        choices=[Choice(message=ChoiceMessage(content="x"))],
        usage=Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            estimated=estimated,
        ),
    )


TEAM = RequestContext(tenant="team-a")


def test_estimate_per_target(policy: Policy) -> None:
    g = gate()
    est = g.estimate(
        request("one two three", max_tokens=10), policy.decide(request(), model="mixed").plan
    )
    assert est.input_tokens == est.input_tokens_bound == 3
    assert est.output_tokens == {"paid": 10, "local": 10}
    # paid: 3 * $1000/M + 10 * $2000/M (estimate and bound coincide here)
    assert est.reserve_usd["paid"] == pytest.approx(0.023)
    assert est.reserve_usd["local"] == 0.0


def test_reserve_hold_and_commit_actual(policy: Policy) -> None:
    store, clock = MemoryStore(), Clock()
    g = gate(store, clock)
    d = decision(policy, "default", ("team", per_day(1.0)))
    req, d2, hold = g.admit(request("one two three"), TEAM, d)
    assert d2 is d and hold.amount_usd == pytest.approx(0.023) and len(hold.keys) == 1
    (key,) = hold.keys
    assert key == "team|tenant=team-a|day|2027-01-15"
    assert store.budget_usage(key, now=NOW).held_usd == pytest.approx(0.023)
    call = make_call(req, TEAM, d2, hold)
    rec = g.settle(call, response(3, 4), policy.targets["paid"])
    assert rec is not None and rec.cost_usd == pytest.approx(0.011) and rec.excess_usd == 0
    u = store.budget_usage(key, now=NOW)
    assert u.spent_usd == pytest.approx(0.011) and u.holds == 0
    (ledger,) = read_ledger(store)
    assert ledger.tenant == "team-a" and ledger.target == "paid" and ledger.zone == "frontier"
    assert ledger.reserved_usd == pytest.approx(0.023) and ledger.budgets == (key,)
    assert EXTRA_KEY not in call.extra  # settled once


def test_deny_raises_budget_exceeded_with_explanation(policy: Policy) -> None:
    store = MemoryStore()
    g = gate(store)
    d = decision(policy, "default", ("team-daily", per_day(0.03)))
    g.admit(request("one two three"), TEAM, d)  # holds 0.023 of 0.03
    with pytest.raises(BudgetExceeded) as ei:
        g.admit(request("one two three"), TEAM, d)
    msg = str(ei.value)
    assert isinstance(ei.value, NoEligibleTarget)
    assert "budget 'team-daily'" in msg and "tenant=team-a" in msg
    assert "$0.0230 held by 1 call(s)" in msg and "on_exhausted: deny" in msg
    assert "resets at 2027-01-16 00:00 UTC" in msg
    assert ei.value.decision is d


def test_other_keys_have_their_own_window(policy: Policy) -> None:
    g = gate()
    d = decision(policy, "default", ("team", per_day(0.03)))
    g.admit(request("one two three"), TEAM, d)
    g.admit(request("one two three"), RequestContext(tenant="team-b"), d)
    with pytest.raises(BudgetExceeded):
        g.admit(request("one two three"), TEAM, d)


def test_every_budget_must_admit(policy: Policy) -> None:
    store = MemoryStore()
    g = gate(store)
    d = decision(
        policy,
        "default",
        ("team", per_day(1.0)),
        ("user", BudgetEffect(usd=0.03, per="hour", key="user")),
    )
    ctx = RequestContext(tenant="team-a", user="ann")
    _, _, hold = g.admit(request("one two three"), ctx, d)
    assert len(hold.keys) == 2
    with pytest.raises(BudgetExceeded, match="budget 'user'"):
        g.admit(request("one two three"), ctx, d)
    # The refused request held nothing on the team budget either.
    team_key = hold.keys[0]
    assert g.store.budget_usage(team_key, now=NOW).holds == 1


def test_local_only_narrows_to_zero_marginal_cost_subset(policy: Policy) -> None:
    g = gate()
    d = decision(policy, "mixed", ("team", per_day(0.03, on="local_only")))
    g.admit(request("one two three"), TEAM, d)
    _, d2, hold = g.admit(request("one two three"), TEAM, d)
    assert d2.target_names == ("local",)
    assert set(d2.target_names) <= set(d.target_names)  # policy closure
    assert "local_only" in d2.excluded["paid"][0]
    assert any("narrowed" in n for n in d2.notes)
    assert hold.keys == () and hold.amount_usd == 0


def test_local_only_without_free_target_is_refused(policy: Policy) -> None:
    g = gate()
    d = decision(policy, "default", ("team", per_day(0.03, on="local_only")))
    g.admit(request("one two three"), TEAM, d)
    with pytest.raises(BudgetExceeded, match="no zero-marginal-cost target"):
        g.admit(request("one two three"), TEAM, d)


def test_zero_cost_plan_reserves_nothing(policy: Policy) -> None:
    store = MemoryStore()
    g = gate(store)
    d = decision(policy, "default", ("team", per_day(0.0)))
    d = dataclasses.replace(d, plan=(policy.targets["local"],))
    _, _, hold = g.admit(request(), TEAM, d)
    assert hold.keys == ()


def test_the_ceiling_is_the_policys_with_the_same_worst_case(policy: Policy) -> None:
    # One place checks max_cost_usd (the policy); the gate reserves the same worst case.
    ctx = RequestContext(tenant="team", max_cost_usd=0.01)
    d = policy.decide(request("one two three"), ctx, model="mixed")
    assert d.target_names == ("local",)
    assert any("max_cost_usd" in r for r in d.excluded["paid"])
    with pytest.raises(NoEligibleTarget, match="max_cost_usd"):
        policy.decide(request("one two three"), ctx, model="default")
    # The ceiling prices the input bound (13 bytes + 16 = 29 tokens): $0.049, not $0.028.
    tight = RequestContext(tenant="team", max_cost_usd=0.03)
    with pytest.raises(NoEligibleTarget, match="max_cost_usd"):
        policy.decide(request("one two three"), tight, model="default")
    roomy = RequestContext(tenant="team", max_cost_usd=0.05)
    d4 = policy.decide(request("one two three"), roomy, model="default")
    assert d4.target_names == ("paid",)
    # With the default counter both sides count the same input tokens and bound.
    req = request("one two three")
    hold = BudgetGate(MemoryStore()).admit(req, TEAM, d4)[2]
    assert hold.estimate is None  # no budget applies: nothing was estimated
    gate_ = BudgetGate(MemoryStore())
    assert gate_.estimate(req, d4.plan).input_tokens == d4.input_tokens
    est = gate_.estimate(req, d4.plan, d4)
    assert est.input_tokens == d4.input_tokens
    assert est.input_tokens_bound == d4.input_tokens_bound == 29
    assert est.reserve_usd["paid"] == pytest.approx(d4.costs["paid"]) == pytest.approx(0.049)


def test_an_uncapped_request_is_capped_where_money_is_at_stake(policy: Policy) -> None:
    g = gate()
    d = decision(policy, "default", ("team", per_day(100.0)))
    req, _, hold = g.admit(request("hi", max_tokens=None), TEAM, d)
    assert hold.estimate.output_tokens["paid"] == ASSUMED_OUTPUT_TOKENS
    # The priced target's endpoint sends that cap, so the reserve is a true worst case.
    paid = d.plan[0]
    http = OpenAICompatibleAdapter().build_request(paid.endpoint, req, stream=False)
    assert http.json["max_tokens"] == ASSUMED_OUTPUT_TOKENS


def test_abandon_releases_the_hold(policy: Policy) -> None:
    store = MemoryStore()
    g = gate(store)
    d = decision(policy, "default", ("team", per_day(0.03)))
    req, d2, hold = g.admit(request("one two three"), TEAM, d)
    call = make_call(req, TEAM, d2, hold)
    assert g.abandon(call) is None
    assert store.budget_usage(hold.keys[0], now=NOW).holds == 0
    g.admit(request("one two three"), TEAM, d)  # room again


def test_abandon_after_delivered_content_charges_the_worst_case(policy: Policy) -> None:
    store = MemoryStore()
    g = gate(store)
    d = decision(policy, "default", ("team", per_day(1.0)))
    req, d2, hold = g.admit(request("one two three"), TEAM, d)
    call = make_call(req, TEAM, d2, hold)
    call.walker.succeeded(Send(policy.targets["paid"], 1, None), 0.1)  # stream opened
    rec = g.abandon(call)
    assert rec is not None and rec.outcome == "interrupted" and rec.estimated
    assert rec.cost_usd == pytest.approx(0.023) and rec.excess_usd == 0
    assert store.budget_usage(hold.keys[0], now=NOW).spent_usd == pytest.approx(0.023)


def test_expired_hold_frees_room_and_late_commit_counts_as_excess(policy: Policy) -> None:
    """A process that dies mid-call frees its hold once the hold expires."""
    store, clock = MemoryStore(), Clock()
    g = gate(store, clock)
    d = decision(policy, "default", ("team", per_day(0.03)))
    req, d2, crashed = g.admit(request("one two three"), TEAM, d)
    with pytest.raises(BudgetExceeded):
        g.admit(request("one two three"), TEAM, d)
    clock.t += 60  # hold_s
    g.admit(request("one two three"), TEAM, d)
    # The "crashed" call comes back after all: its spend is recorded as excess.
    rec = g.settle(make_call(req, TEAM, d2, crashed), response(3, 10), policy.targets["paid"])
    assert rec is not None and rec.excess_usd == pytest.approx(rec.cost_usd)


def test_usage_above_the_hold_is_excess(policy: Policy) -> None:
    g = gate()
    d = decision(policy, "default", ("team", per_day(1.0)))
    req, d2, hold = g.admit(request("one two three"), TEAM, d)
    rec = g.settle(make_call(req, TEAM, d2, hold), response(3, 20), policy.targets["paid"])
    assert rec is not None and rec.excess_usd == pytest.approx(0.043 - 0.023)


def test_windows_roll_over_at_utc_midnight(policy: Policy) -> None:
    clock = Clock(NOW)
    g = gate(MemoryStore(), clock)
    d = decision(policy, "default", ("team", per_day(0.03)))
    g.admit(request("one two three"), TEAM, d)
    with pytest.raises(BudgetExceeded):
        g.admit(request("one two three"), TEAM, d)
    clock.t = 1_800_057_600.0  # 2027-01-16 00:00 UTC
    _, _, hold = g.admit(request("one two three"), TEAM, d)
    assert hold.keys[0].endswith("|2027-01-16")


def test_budget_key_values() -> None:
    ctx = RequestContext(tenant="t", user="u", metadata={"team": "search"})
    assert budget_key_value("tenant", ctx, "r") == "t"
    assert budget_key_value("user", ctx, "r") == "u"
    assert budget_key_value("route", ctx, "r") == "r"
    assert budget_key_value("metadata.team", ctx, "r") == "search"
    assert budget_key_value("metadata.missing", ctx, "r") == "-"
    assert budget_key_value("tenant", RequestContext(), "r") == "-"
    with pytest.raises(ConfigError, match="unknown budget key"):
        budget_key_value("org", ctx, "r")


def test_keys_with_separators_do_not_collide(policy: Policy) -> None:
    g = gate()
    d = decision(policy, "default", ("team", per_day(1.0)))
    _, _, a = g.admit(request(), RequestContext(tenant="a|tenant=b"), d)
    _, _, b = g.admit(request(), RequestContext(tenant="a"), d)
    assert a.keys != b.keys


def test_hold_outlives_the_call_deadline(policy: Policy) -> None:
    g = gate()  # hold_s=60
    d = decision(policy, "default", ("team", per_day(1.0)))
    _, _, hold = g.admit(request(), RequestContext(tenant="a", deadline_s=300), d)
    assert hold.expires_at == NOW + 360
    _, _, hold = g.admit(request(), RequestContext(tenant="a"), d)
    assert hold.expires_at == NOW + 60


def test_policy_and_gate_count_tool_schemas_alike(policy: Policy) -> None:
    # The gate reuses the policy's input estimate, so the two must count the same texts.
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    req = ChatRequest(
        messages=[{"role": "user", "content": "find order 12"}],  # type: ignore[list-item]
        tools=tools,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    )
    d = policy.decide(req, RequestContext(), model="mixed")
    assert d.input_tokens == FastCounter().count(req)
    assert d.input_tokens > estimate_tokens([t for t in req.iter_text() if t], 1)
