"""Shadow copies spend money: they pass the budget gate, the ledger and the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router import AsyncRouter, Router
from router.accounting import LedgerRecord, read_ledger
from router.cli import main
from router.migration import summarise_store
from router.state import StateStore
from tests.money_helpers import FakeProvider, money_config

pytest_plugins = ["tests.money_fixtures"]

HI = [{"role": "user", "content": "hi"}]
# "hi" on the fake: 6 prompt tokens, 10 completion (the route's max_tokens)
# at $1000/$2000 per M: actual $0.026. Reserved: 18 input tokens (bound) + 10
# output = $0.038.
SHADOW_COST = (6 * 1000 + 10 * 2000) / 1e6
SHADOW_RESERVE = (18 * 1000 + 10 * 2000) / 1e6


@pytest.fixture
def shadow_server() -> Iterator[FakeProvider]:
    """The paid shadow target's own server (so a test can make only it fail)."""
    fp = FakeProvider()
    yield fp
    fp.close()


def config(
    primary: FakeProvider,
    shadow: FakeProvider,
    state: str,
    *rules: dict[str, Any],
    candidate: str = "local",
) -> dict[str, Any]:
    """``support`` answers from ``candidate`` and shadows every request to a priced target."""
    cfg = money_config(primary.base_url, state=state, rules=list(rules))
    cfg["providers"]["shadow-api"] = {
        "kind": "openai_compatible",
        "base_url": shadow.base_url,
        "zone": "frontier",
        "retry": {"attempts": 1},
    }
    cfg["models"]["paid-shadow"] = {
        "provider": "shadow-api",
        "model": "shadow-model",
        "price": {"input": 1000, "output": 2000},
    }
    cfg["routes"]["support"] = {
        "candidates": [candidate],
        "max_tokens": 10,
        "shadow": {"model": "paid-shadow", "sample_pct": 100},
    }
    return cfg


def tenant_budget(usd: float, on: str = "deny", **when: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "team-daily",
        "budget": {"usd": usd, "per": "day", "key": "tenant", "on_exhausted": on},
    }
    if when:
        rule["when"] = when
    return rule


def run(cfg: dict[str, Any], mode: str, n: int = 1, tenant: str = "acme") -> list[Any]:
    """Send ``n`` requests to ``support`` and wait for their shadows."""
    if mode == "sync":
        with Router.from_dict(cfg) as r:
            return [r.chat(HI, model="support", context={"tenant": tenant}) for _ in range(n)]

    import asyncio

    async def go() -> list[Any]:
        async with AsyncRouter.from_dict(cfg) as r:
            return [await r.chat(HI, model="support", context={"tenant": tenant}) for _ in range(n)]

    return asyncio.run(go())


def ledger(state: str) -> tuple[StateStore, list[LedgerRecord]]:
    from router.state import open_store

    store = open_store(state)
    return store, read_ledger(store)


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_a_paid_shadow_is_charged_to_the_tenant_budget(
    mode: str,
    fake_provider: FakeProvider,
    shadow_server: FakeProvider,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = f"sqlite://{tmp_path / 'state.db'}"
    (resp,) = run(config(fake_provider, shadow_server, state, tenant_budget(0.1)), mode)
    assert resp.route.target == "local" and resp.route.cost_usd == 0
    assert shadow_server.requests == 1
    store, recs = ledger(state)
    primary, shadow = sorted(recs, key=lambda x: x.shadow_of is not None)
    assert primary.shadow_of is None and primary.target == "local"
    assert shadow.shadow_of == resp.route.decision_id
    assert (shadow.target, shadow.tenant, shadow.zone) == ("paid-shadow", "acme", "frontier")
    assert shadow.cost_usd == pytest.approx(SHADOW_COST)
    assert shadow.reserved_usd == pytest.approx(SHADOW_RESERVE)
    (key,) = shadow.budgets
    assert key.startswith("team-daily|tenant=acme|day|")
    usage = store.budget_usage(key, now=shadow.ts)
    assert usage.spent_usd == pytest.approx(SHADOW_COST)
    assert usage.holds == 0 and usage.held_usd == 0
    store.close()

    assert main(["report", "--state", state, "--json", "--by", "tenant"]) == 0
    out = json.loads(capsys.readouterr().out)
    traffic = {r["key"]: r for r in out["spend"]["traffic"]}  # added: shadows spent
    assert traffic["shadow"]["requests"] == 1
    assert traffic["shadow"]["cost_usd"] == pytest.approx(SHADOW_COST)
    assert traffic["primary"]["cost_usd"] == 0
    assert main(["report", "--state", state]) == 0
    text = capsys.readouterr().out
    assert "Spend by traffic" in text and "shadow" in text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on", ["deny", "local_only"])
def test_a_shadow_the_budget_cannot_hold_is_skipped_not_the_primary(
    mode: str,
    on: str,
    fake_provider: FakeProvider,
    shadow_server: FakeProvider,
    tmp_path: Path,
) -> None:
    state = f"sqlite://{tmp_path / 'state.db'}"
    small = tenant_budget(SHADOW_RESERVE - 0.001, on)
    (resp,) = run(config(fake_provider, shadow_server, state, small), mode)
    assert resp.content and resp.route.target == "local"
    assert fake_provider.requests == 1 and shadow_server.requests == 0
    store, recs = ledger(state)
    assert [(r.target, r.shadow_of) for r in recs] == [("local", None)]
    counts = summarise_store(store, "support", "paid-shadow")
    assert counts["refused_budget"] == 1 and counts["refused"] == 0 and counts["pairs"] == 0
    store.close()


def test_shadows_stop_once_the_window_is_spent(
    fake_provider: FakeProvider, shadow_server: FakeProvider, tmp_path: Path
) -> None:
    # Room for one reservation ($0.038) but not for a second on top of the
    # first's $0.026: the second copy is refused and spend stays within budget.
    state = f"sqlite://{tmp_path / 'state.db'}"
    cfg = config(fake_provider, shadow_server, state, tenant_budget(0.05))
    run(cfg, "sync")
    run(cfg, "sync")
    assert shadow_server.requests == 1 and fake_provider.requests == 2
    store, recs = ledger(state)
    shadows = [r for r in recs if r.shadow_of]
    assert len(shadows) == 1 and sum(r.cost_usd for r in recs) <= 0.05
    assert summarise_store(store, "support", "paid-shadow")["refused_budget"] == 1
    store.close()


def test_a_route_scoped_budget_applies_to_the_routes_shadow(
    fake_provider: FakeProvider, shadow_server: FakeProvider, tmp_path: Path
) -> None:
    # Deciding for the shadow model by name does not match `route: support`;
    # the primary Decision's budgets apply to its copy all the same.
    state = f"sqlite://{tmp_path / 'state.db'}"
    scoped = tenant_budget(0.01, route="support")
    run(config(fake_provider, shadow_server, state, scoped), "sync")
    assert shadow_server.requests == 0
    store, _ = ledger(state)
    assert summarise_store(store, "support", "paid-shadow")["refused_budget"] == 1
    store.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_shadow_leaves_no_hold(
    mode: str, fake_provider: FakeProvider, shadow_server: FakeProvider, tmp_path: Path
) -> None:
    shadow_server.status = 500
    state = f"sqlite://{tmp_path / 'state.db'}"
    cfg = config(fake_provider, shadow_server, state, tenant_budget(1.0), candidate="paid")
    (resp,) = run(cfg, mode)
    assert resp.route.target == "paid"
    assert shadow_server.requests == 1  # tried once, failed
    store, recs = ledger(state)
    (primary,) = recs  # a failed copy writes no ledger record
    assert primary.shadow_of is None
    (key,) = primary.budgets
    usage = store.budget_usage(key, now=primary.ts)
    assert usage.holds == 0 and usage.held_usd == 0
    assert usage.spent_usd == pytest.approx(primary.cost_usd)
    assert summarise_store(store, "support", "paid-shadow")["shadow_errors"] == 1
    store.close()


def test_shadow_spend_is_reported_apart_and_left_out_of_the_shift_report() -> None:
    from router.accounting.report import shift_report, spend_by
    from router.config import load_dict
    from router.targets import resolve_targets

    def rec(cost: float, shadow_of: str | None) -> LedgerRecord:
        return LedgerRecord(
            ts=1_800_000_000.0,
            request_id="x",
            route="support",
            target="paid",
            model="paid-model",
            provider="paid-api",
            zone="frontier",
            prompt_tokens=600,
            completion_tokens=400,
            cost_usd=cost,
            shadow_of=shadow_of,
        )

    records = [rec(6.0, None), rec(4.0, "d1")]
    rows = {r.key: (r.requests, r.cost_usd) for r in spend_by(records, "traffic")}
    assert rows == {"primary": (1, 6.0), "shadow": (1, 4.0)}
    targets = resolve_targets(load_dict(money_config("http://127.0.0.1:9/v1")))
    shift = shift_report(records, targets)
    assert (shift.requests, shift.tokens, shift.cost_usd) == (1, 1000, 6.0)
