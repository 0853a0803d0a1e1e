"""``llm-router report --jsonl AUDIT_LOG`` gives the same spend as the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router import Router
from router.accounting import LedgerRecord
from router.accounting.ledger import parse_record
from router.cli import main
from router.errors import BudgetExceeded, ProviderError
from tests.money_helpers import FakeProvider, free_port, money_config

pytest_plugins = ["tests.money_fixtures"]

HI = [{"role": "user", "content": "hi"}]
DIMS = "tenant,user,route,model,provider,zone,day,traffic"


def _config(fp: FakeProvider, state: str, audit: Path) -> dict[str, Any]:
    rules = [
        {
            "name": "broke",
            "when": {"tenant": "broke"},
            "budget": {"usd": 0, "per": "day", "key": "tenant"},
        }
    ]
    cfg = money_config(fp.base_url, state=state, rules=rules)
    cfg["telemetry"] = {"enabled": False, "audit_log": str(audit)}
    cfg["providers"]["dead"] = {
        "kind": "openai_compatible",
        "base_url": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens
        "zone": "frontier",
        "retry": {"attempts": 1},
    }
    cfg["models"]["gone"] = {
        "provider": "dead",
        "model": "gone-model",
        "price": {"input": 1, "output": 1},
    }
    cfg["routes"]["support"] = {
        "candidates": ["local"],
        "max_tokens": 10,
        "shadow": {"model": "paid", "sample_pct": 100},
    }
    return cfg


def _report(*source: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["report", *source, "--json", "--by", DIMS]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def _rows(spend: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        r["key"]: (
            r["requests"],
            r["prompt_tokens"],
            r["completion_tokens"],
            r["estimated"],
            pytest.approx(r["cost_usd"]),
            pytest.approx(r["amortised_cost_usd"]),
        )
        for r in spend
    }


def test_the_audit_log_reports_the_ledgers_spend(
    fake_provider: FakeProvider, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = f"sqlite://{tmp_path / 'state.db'}"
    audit = tmp_path / "audit.jsonl"
    with Router.from_dict(_config(fake_provider, state, audit)) as r:
        r.chat(HI, context={"tenant": "acme"})  # paid
        r.chat(HI, context={"tenant": "acme"})
        r.chat(HI, model="local", context={"tenant": "beta"})  # amortised only
        with r.stream(HI, model="mixed", context={"tenant": "beta"}) as s:
            list(s)
        fake_provider.usage = False
        r.chat(HI, context={"tenant": "gamma"})  # estimated usage
        fake_provider.usage = True
        r.chat(HI, model="support", context={"tenant": "acme"})  # + a paid shadow copy
        with pytest.raises(ProviderError):
            r.chat(HI, model="gone", context={"tenant": "acme"})  # failed: no spend
        with pytest.raises(BudgetExceeded):
            r.chat(HI, context={"tenant": "broke"})  # denied: no spend
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [x["outcome"] for x in lines].count("ok") == 7  # the shadow has its own record
    assert {"error", "denied"} <= {x["outcome"] for x in lines}

    from_ledger = _report("--state", state, capsys=capsys)
    from_audit = _report("--jsonl", str(audit), capsys=capsys)
    assert from_ledger["records"] == from_audit["records"] == 7
    for dim in DIMS.split(","):
        if dim == "user":
            continue  # the audit log keeps no user ids
        assert _rows(from_audit["spend"][dim]) == _rows(from_ledger["spend"][dim]), dim
    traffic = {r["key"]: r for r in from_audit["spend"]["traffic"]}
    assert traffic["shadow"]["requests"] == 1 and traffic["shadow"]["cost_usd"] > 0
    estimated = {r["key"]: r["estimated"] for r in from_audit["spend"]["tenant"]}
    assert estimated["gamma"] == 1 and estimated["acme"] == 0
    providers = {r["key"] for r in from_audit["spend"]["provider"]}
    assert providers == {"paid-api", "gpu-box"}


def test_audit_record_mapping() -> None:
    base = {
        "v": 1,
        "seq": 3,
        "time": "2026-03-01T12:00:00.000Z",
        "decision_id": "d1",
        "tenant": "acme",
        "route": "support",
        "outcome": "ok",
        "target": "paid",
        "zone": "frontier",
        "provider": "paid-api",
        "model": "paid-model",
        "input_tokens": 6,
        "output_tokens": 10,
        "cached_tokens": 2,
        "cost_usd": 0.026,
        "amortised_cost_usd": None,
        "cost_estimated": True,
        "shadow_of": "d0",
        "hash": "h",
        "prev": "p",
    }
    rec = parse_record(base)
    assert rec == LedgerRecord(
        ts=1772366400.0,
        request_id="d1",
        route="support",
        target="paid",
        model="paid-model",
        provider="paid-api",
        zone="frontier",
        tenant="acme",
        prompt_tokens=6,
        completion_tokens=10,
        cached_tokens=2,
        cost_usd=0.026,
        estimated=True,
        shadow_of="d0",
    )
    # A log written before provider/model were recorded still reports.
    old = {k: v for k, v in base.items() if k not in ("provider", "model", "shadow_of")}
    legacy = parse_record(old)
    assert legacy is not None and legacy.model == "paid" and legacy.provider == ""
    assert parse_record({**base, "outcome": "error", "target": None, "cost_usd": None}) is None
    assert parse_record({**base, "outcome": "denied"}) is None
    with pytest.raises(ValueError, match="neither a ledger record"):
        parse_record({"hello": 1})
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_record([1])


def test_cli_reports_a_bad_audit_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "audit.jsonl"
    good = {"time": "2026-03-01T12:00:00Z", "decision_id": "d", "outcome": "denied"}
    bad = {"time": "yesterday", "decision_id": "d", "outcome": "ok", "target": "t", "cost_usd": 1}
    f.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    assert main(["report", "--jsonl", str(f)]) == 2
    assert "audit.jsonl:2" in capsys.readouterr().err
