"""``llm-router migration status`` and the split wiring seen through the facade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from router import Router
from router.cli import main

from .migration_fixtures import ASK, migration_config

RAMP = {"model": "llama", "from_pct": 0, "to_pct": 100, "start": "2026-12-01", "end": "2026-12-15"}
GUARD = {"model": "llama", "baseline": "gpt", "max_ratio": 2}


def _write(tmp_path: Path, **route: Any) -> Path:
    p = tmp_path / "router.yaml"
    p.write_text(
        yaml.safe_dump(migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", **route))
    )
    return p


def test_status_shows_the_schedule_at_an_instant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = _write(tmp_path, ramp=RAMP, guard=GUARD, shadow={"model": "llama", "sample_pct": 5})
    assert main(["migration", "status", str(p), "--at", "2026-12-04T12:00:00"]) == 0
    cap = capsys.readouterr()
    assert "route support  (at 2026-12-04T12:00:00+00:00)" in cap.out
    assert "llama" in cap.out and "scheduled  25.00%" in cap.out and "in force  25.00%" in cap.out
    assert "gpt" in cap.out and "scheduled  75.00%" in cap.out
    assert "ramp: llama 0% → 100%" in cap.out and "now 25.00%" in cap.out
    assert "state: ARMED" in cap.out and "shadow: llama at 5%" in cap.out
    assert "state is 'memory'" in cap.err


def test_status_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path)
    assert main(["migration", "status", str(p), "--at", "next week"]) == 2
    assert "not an ISO date" in capsys.readouterr().err
    assert main(["migration", "status", str(p), "--route", "nope"]) == 2
    assert main(["migration", "report", str(p)]) == 0
    # A split without a shadow is reported (its traffic from the ledger); here it has none.
    out = capsys.readouterr().out
    assert "route support: split llama, gpt" in out and "no ledger records for this route" in out


def test_split_only_route_has_a_plan_and_explains_itself() -> None:
    with Router(migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")) as r:
        d = r.explain(ASK, model="support", context={"user": "alice"})
    assert set(d.target_names) == {"llama", "gpt"}
    assert any(n.startswith("split: arm") for n in d.notes)
    assert "sticky by user" in d.explain()


def test_split_without_fallback_still_chooses_among_the_arms() -> None:
    cfg = migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", fallback=False)
    with Router(cfg) as r:
        firsts = {
            r.explain(ASK, model="support", context={"user": f"u{i}"}).plan[0].name
            for i in range(50)
        }
        d = r.explain(ASK, model="support", context={"user": "u1"})
    assert firsts == {"llama", "gpt"}
    assert len(d.plan) == 1
