"""Spend reports, the shift report arithmetic and ``llm-router report``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from router.accounting import LedgerRecord
from router.accounting.report import shift_report, spend_by
from router.cli import main
from router.config import load_dict
from router.state import open_store
from router.targets import resolve_targets
from tests.money_helpers import money_config

DAY1 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
DAY2 = DAY1 + 86_400


def rec(
    ts: float, tenant: str, target: str, zone: str, p: int, c: int, cost: float, **kw
) -> LedgerRecord:  # type: ignore[no-untyped-def]
    return LedgerRecord(
        ts=ts,
        request_id="x",
        route=kw.pop("route", "default"),
        target=target,
        model=target,
        provider="p",
        zone=zone,
        tenant=tenant,
        prompt_tokens=p,
        completion_tokens=c,
        cost_usd=cost,
        **kw,
    )


RECORDS = [
    rec(DAY1, "search", "paid", "frontier", 600_000, 400_000, 6.0),
    rec(DAY1 + 60, "mkt", "paid", "frontier", 300_000, 200_000, 3.0, estimated=True),
    rec(DAY2, "search", "paid", "frontier", 600_000, 400_000, 6.0, route="bot"),
    rec(DAY2, "mkt", "local", "local", 1000, 1000, 0.0, amortised_cost_usd=0.002),
]


def test_spend_by_dimension() -> None:
    by_tenant = spend_by(RECORDS, "tenant")
    assert [(r.key, r.requests, r.cost_usd) for r in by_tenant] == [
        ("search", 2, 12.0),
        ("mkt", 2, 3.0),
    ]
    assert by_tenant[1].estimated == 1 and by_tenant[1].amortised_cost_usd == 0.002
    assert [r.key for r in spend_by(RECORDS, "day")] == ["2027-01-15", "2027-01-16"]
    assert [r.key for r in spend_by(RECORDS, "zone")] == ["frontier", "local"]
    assert [r.key for r in spend_by(RECORDS, "model")] == ["paid", "local"]
    assert {r.key for r in spend_by(RECORDS, "route")} == {"default", "bot"}
    with pytest.raises(ValueError, match="unknown dimension"):
        spend_by(RECORDS, "colour")


def test_shift_report_arithmetic() -> None:
    cfg = money_config("http://127.0.0.1:9/v1")
    # $2/h at 100 tok/s: 8.64M tokens/day per GPU, $48/day, $5.56 per M tokens amortised.
    cfg["models"]["local"]["cost"] = {"gpu_hour_usd": 2.0, "tokens_per_second": 100}
    cfg["models"]["big"] = {
        "provider": "gpu-box",
        "model": "b",
        "cost": {"gpu_hour_usd": 100.0, "tokens_per_second": 100},
    }
    targets = resolve_targets(load_dict(cfg))
    rep = shift_report(RECORDS, targets)
    assert rep.days == 2 and rep.requests == 3
    assert rep.tokens == 2_500_000 and rep.cost_usd == 15.0
    assert rep.tokens_per_day == 1_250_000 and rep.cost_per_day == 7.5
    assert rep.usd_per_million_tokens == pytest.approx(6.0)
    assert rep.self_hosted_tokens == 2000
    local = next(r for r in rep.rows if r.target == "local")
    assert local.capacity_tokens_per_day == 8_640_000
    assert local.amortised_usd == pytest.approx(2_500_000 * 2 / 3600 / 100)
    assert local.gpus == 1 and local.dedicated_usd == 2 * 24 * 2.0
    # one GPU costs $48/day = 8M tokens at $6 per M
    assert local.breakeven_tokens_per_day == pytest.approx(8_000_000)
    big = next(r for r in rep.rows if r.target == "big")
    assert big.breakeven_tokens_per_day is None  # $277/M amortised: the API is cheaper
    assert shift_report(RECORDS, targets, days=10).tokens_per_day == 250_000


def test_shift_report_needs_more_gpus_for_more_volume() -> None:
    cfg = money_config("http://127.0.0.1:9/v1")
    cfg["models"]["local"]["cost"] = {"gpu_hour_usd": 1.0, "tokens_per_second": 10}
    rep = shift_report(RECORDS, resolve_targets(load_dict(cfg)))
    (row,) = rep.rows
    assert row.gpus == 2  # 1.25M tokens/day over 864k per GPU


@pytest.fixture
def ledger_config(tmp_path: Path) -> Path:
    db = tmp_path / "state.db"
    store = open_store(f"sqlite://{db}")
    for r in RECORDS:
        store.ledger_append(r.to_json(), ts=r.ts)
    store.close()
    cfg = money_config("http://127.0.0.1:9/v1", state=f"sqlite://{db}")
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_cli_report_text(ledger_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--config", str(ledger_config)]) == 0
    out = capsys.readouterr().out
    for heading in (
        "Spend by tenant",
        "Spend by route",
        "Spend by model",
        "Spend by zone",
        "Spend by day",
        "Shift report",
    ):
        assert heading in out
    assert "search" in out and "$12.00" in out and "TOTAL" in out
    assert "2,500,000 tokens over 2 day(s)" in out


def test_cli_report_json_filters(ledger_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "report",
                "-c",
                str(ledger_config),
                "--json",
                "--since",
                "2027-01-16",
                "--by",
                "tenant",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["records"] == 2
    assert [r["key"] for r in data["spend"]["tenant"]] == ["search", "mkt"]
    assert data["shift"]["days"] == 1


def test_cli_report_jsonl_and_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "ledger.jsonl"
    f.write_text("\n".join(r.to_json() for r in RECORDS) + "\n")
    assert main(["report", "--jsonl", str(f), "--tenant", "mkt", "--records"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(json.loads(x)["tenant"] == "mkt" for x in lines)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts": 1, "route": "r", "target": "t"}\nnot json\n')
    assert main(["report", "--jsonl", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_cli_report_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 2
    assert "give --config, --state or --jsonl" in capsys.readouterr().err
    assert main(["report", "--state", "memory"]) == 2
    assert "use sqlite or redis" in capsys.readouterr().err
    assert main(["report", "--state", f"sqlite://{tmp_path}/x.db", "--by", "colour"]) == 2
    assert "unknown dimension 'colour'" in capsys.readouterr().err
