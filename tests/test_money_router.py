"""Money through the real router: costs on responses, budgets, ledger, release on failure."""

from __future__ import annotations

from typing import Any

import pytest

from router import Router
from router.accounting import read_ledger
from router.errors import BudgetExceeded, NoEligibleTarget, ProviderError
from tests.money_helpers import FakeProvider, money_config

pytest_plugins = ["tests.money_fixtures"]

HI = [{"role": "user", "content": "hi"}]


def budget_rule(usd: float, on: str = "deny", **kw: Any) -> dict[str, Any]:
    return {
        "name": "team-daily",
        "budget": {"usd": usd, "per": "day", "key": "tenant", "on_exhausted": on, **kw},
    }


def router(fp: FakeProvider, *rules: dict[str, Any]) -> Router:
    return Router.from_dict(money_config(fp.base_url, rules=list(rules)))


def holds(r: Router) -> int:
    return sum(
        r.store.budget_usage(rec.budgets[0], now=r.budget.clock()).holds
        for rec in read_ledger(r.store)
        if rec.budgets
    )


def test_response_carries_marginal_and_amortised_cost(fake_provider: FakeProvider) -> None:
    with router(fake_provider) as r:
        paid = r.chat(HI, context={"tenant": "a"})
        local = r.chat(HI, model="local", context={"tenant": "a"})
    assert paid.route is not None and local.route is not None
    # prompt = ceil(2/3) + 5 = 6 tokens, completion = max_tokens 10 (route default)
    assert paid.route.cost_usd == pytest.approx((6 * 1000 + 10 * 2000) / 1e6)
    assert paid.route.amortised_cost_usd is None
    assert local.route.cost_usd == 0
    # $3.6/h at 1000 tok/s = $1e-6 per token; local has no route max_tokens: 16
    assert local.route.amortised_cost_usd == pytest.approx((6 + 16) * 1e-6)
    recs = read_ledger(r.store)
    assert [x.target for x in recs] == ["paid", "local"]
    assert recs[0].cost_usd == pytest.approx(paid.route.cost_usd)
    assert recs[1].amortised_cost_usd == pytest.approx(local.route.amortised_cost_usd)


def test_deny_budget_holds(fake_provider: FakeProvider) -> None:
    # Reserve per call: bound 2 bytes + 16 overhead = 18 input tokens -> $0.018
    # + 10 output -> $0.02 = $0.038. Actual: $0.026. Budget $0.1 admits three.
    with router(fake_provider, budget_rule(0.1)) as r:
        for _ in range(3):
            r.chat(HI, context={"tenant": "team-a"})
        with pytest.raises(BudgetExceeded, match="team-daily") as ei:
            r.chat(HI, context={"tenant": "team-a"})
        assert "$0.0780 spent" in str(ei.value)
        r.chat(HI, context={"tenant": "team-b"})  # another tenant, another window
        spent = sum(x.cost_usd for x in read_ledger(r.store) if x.tenant == "team-a")
        assert spent == pytest.approx(0.078) and spent <= 0.1
        assert holds(r) == 0
    assert fake_provider.requests == 4


def test_local_only_budget_moves_traffic_to_the_local_target(fake_provider: FakeProvider) -> None:
    with router(fake_provider, budget_rule(0.05, on="local_only")) as r:
        first = r.chat(HI, model="mixed", context={"tenant": "mkt"})
        second = r.chat(HI, model="mixed", context={"tenant": "mkt"})
        assert first.route is not None and second.route is not None
        assert first.route.target == "paid"
        assert second.route.target == "local" and second.route.zone == "local"
        assert second.route.cost_usd == 0
        d = r.explain(HI, model="mixed", context={"tenant": "mkt"})
        assert d.target_names == ("paid", "local")  # explain() shows policy, not budget state


def test_failure_releases_the_hold(fake_provider: FakeProvider) -> None:
    fake_provider.status = 500
    with router(fake_provider, budget_rule(0.05)) as r:
        for _ in range(3):  # would exhaust the budget if holds leaked
            with pytest.raises(ProviderError):
                r.chat(HI, context={"tenant": "a"})
        fake_provider.status = 200
        r.chat(HI, context={"tenant": "a"})
        assert holds(r) == 0


def test_stream_usage_is_committed(fake_provider: FakeProvider) -> None:
    with router(fake_provider, budget_rule(1.0)) as r:
        with r.stream(HI, context={"tenant": "a"}) as s:
            text = "".join(c.delta_text for c in s)
        assert text == "ok " * 10
        (rec,) = read_ledger(r.store)
        assert not rec.estimated and rec.cost_usd == pytest.approx(0.026)
        assert holds(r) == 0


def test_stream_without_usage_is_estimated_and_flagged(fake_provider: FakeProvider) -> None:
    fake_provider.usage = False
    with router(fake_provider, budget_rule(1.0)) as r:
        with r.stream(HI, context={"tenant": "a"}) as s:
            list(s)
        resp = s.response
        assert resp.usage is not None and resp.usage.estimated
        assert resp.route is not None and resp.route.cost_estimated
        (rec,) = read_ledger(r.store)
        assert rec.estimated and rec.cost_usd == pytest.approx(resp.route.cost_usd)
        assert rec.cost_usd > 0
        assert rec.excess_usd == 0


def test_stream_closed_early_is_charged_at_worst_case(fake_provider: FakeProvider) -> None:
    with router(fake_provider, budget_rule(1.0)) as r:
        with r.stream(HI, context={"tenant": "a"}) as s:
            for _chunk in s:
                break
        (rec,) = read_ledger(r.store)
        assert rec.outcome == "interrupted" and rec.estimated
        assert rec.cost_usd == pytest.approx(0.038) == rec.reserved_usd
        assert holds(r) == 0


def test_per_request_ceiling_through_the_router(fake_provider: FakeProvider) -> None:
    with router(fake_provider) as r:
        resp = r.chat(HI, model="mixed", context={"max_cost_usd": 0.01})
        assert resp.route is not None and resp.route.target == "local"
        # The ceiling is the policy's: every target over it is excluded, fail closed.
        with pytest.raises(NoEligibleTarget, match="max_cost_usd"):
            r.chat(HI, context={"max_cost_usd": 0.01})


async def test_async_router_shares_the_gate(fake_provider: FakeProvider) -> None:
    from router import AsyncRouter

    cfg = money_config(fake_provider.base_url, rules=[budget_rule(0.05)])
    async with AsyncRouter.from_dict(cfg) as r:
        resp = await r.chat(HI, context={"tenant": "a"})
        assert resp.route is not None and resp.route.cost_usd == pytest.approx(0.026)
        with pytest.raises(BudgetExceeded):
            await r.chat(HI, context={"tenant": "a"})
        (rec,) = read_ledger(r.store)
        assert rec.tenant == "a" and rec.excess_usd == 0
