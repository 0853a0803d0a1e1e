"""``llm-router models --stale``: which catalog facts and prices are past their check-by date.

The clock is injected (``--today``, or ``router.cli.models._today``); the
expected lists are worked out from the raw YAML here, not from the code under
test.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest
import yaml

from router.catalog import load_catalog, parse_catalog, stale_items
from router.catalog.freshness import months_before, parse_as_of
from router.cli import main

TODAY = dt.date(2026, 12, 5)


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 12, 5), 6, dt.date(2026, 6, 5)),
        (dt.date(2026, 12, 5), 0, dt.date(2026, 12, 5)),
        (dt.date(2026, 1, 15), 1, dt.date(2025, 12, 15)),
        (dt.date(2026, 8, 31), 6, dt.date(2026, 2, 28)),  # no 31 February
        (dt.date(2024, 3, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2026, 5, 31), 12, dt.date(2025, 5, 31)),
        (dt.date(2026, 5, 31), 25, dt.date(2024, 4, 30)),
    ],
)
def test_months_before(day: dt.date, months: int, expected: dt.date) -> None:
    assert months_before(day, months) == expected


def test_a_month_only_date_counts_from_the_first() -> None:
    assert parse_as_of("2025-09") == dt.date(2025, 9, 1)
    assert parse_as_of("2025-09-29") == dt.date(2025, 9, 29)
    assert parse_as_of(dt.date(2025, 9, 29)) == dt.date(2025, 9, 29)


# --- stale_items on a catalog built here ----------------------------------------------


def _doc() -> dict[str, Any]:
    base = {
        "family": "f",
        "developer": "D",
        "origin": "US",
        "license": "mit",
        "openness": "open_weights_permissive",
        "context_window": 4096,
    }
    price = {"input": 1, "output": 1, "source": "https://p.example/pricing"}
    return {
        "as_of": "2026-05",  # file default: 2026-05-01
        "models": {
            # Own date exactly at the cut-off (2026-06-05): not stale.
            "at-cutoff": {**base, "name": "a", "as_of": "2026-06-05"},
            # One day before the cut-off: stale.
            "day-before": {**base, "name": "b", "as_of": "2026-06-04"},
            # No date: the file's (stale); its price inherits that too.
            "undated": {
                **base,
                "name": "c",
                "offerings": {"p": {"model": "c", "price": price}},
            },
            # A fresh entry with one fresh and one old price.
            "fresh": {
                **base,
                "name": "d",
                "as_of": "2026-12-01",
                "offerings": {
                    "new": {"model": "d", "price": price},
                    "old": {"model": "d", "price": {**price, "as_of": "2025-12-31"}},
                    "unpriced": {"model": "d"},
                },
            },
        },
    }


def test_stale_items_lists_exactly_what_is_older_than_the_cutoff() -> None:
    cat = parse_catalog(_doc())
    found = stale_items(cat, TODAY, 6)
    assert [(s.key, s.what, s.as_of) for s in found] == [
        ("fresh@old", "price", "2025-12-31"),  # oldest first
        ("undated", "facts", "2026-05"),
        ("undated@p", "price", "2026-05"),
        ("day-before", "facts", "2026-06-04"),
    ]
    assert [s.age_months(TODAY) for s in found] == [11, 7, 7, 6]
    # The same catalog, other clocks: nothing is stale on the day it was written,
    # everything a decade later, and a key@provider view is never listed twice.
    assert stale_items(cat, dt.date(2026, 5, 1), 6) == []
    assert len(stale_items(cat, dt.date(2036, 1, 1), 6)) == 7  # 4 entries, 3 prices
    assert stale_items(cat.values(), TODAY, 6) == found


def test_months_zero_lists_everything_checked_before_today() -> None:
    cat = parse_catalog(_doc())
    assert {s.key for s in stale_items(cat, dt.date(2026, 12, 1), 0)} == {
        "at-cutoff",
        "day-before",
        "undated",
        "undated@p",
        "fresh@old",
    }
    with pytest.raises(ValueError, match="negative"):
        stale_items(cat, TODAY, -1)


# --- the bundled catalog through the CLI ----------------------------------------------


def _expected_from_raw_yaml(today: dt.date, cutoff: dt.date) -> set[tuple[str, str]]:
    """(key, what) of every dated thing before ``cutoff``, read straight from the file."""
    text = resources.files("router.catalog").joinpath("models.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)

    def day(v: object) -> dt.date:
        if isinstance(v, dt.date):
            return v
        parts = [int(x) for x in str(v).split("-")]
        return dt.date(parts[0], parts[1], parts[2] if len(parts) > 2 else 1)

    out = set()
    for key, m in doc["models"].items():
        entry_day = day(m.get("as_of", doc["as_of"]))
        if entry_day < cutoff:
            out.add((key, "facts"))
        for prov, o in (m.get("offerings") or {}).items():
            if (
                o.get("price")
                and day(o["price"].get("as_of", m.get("as_of", doc["as_of"]))) < cutoff
            ):
                out.add((f"{key}@{prov}", "price"))
    return out


def test_cli_json_lists_exactly_the_stale_entries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--stale", "--today", "2026-12-05", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = {(r["key"], r["what"]) for r in rows}
    assert got == _expected_from_raw_yaml(TODAY, dt.date(2026, 6, 5))
    assert got  # the file keeps figures it could not re-check under their old dates
    assert all(r["age_months"] >= 6 for r in rows)
    assert [parse_as_of(r["as_of"]) for r in rows] == sorted(parse_as_of(r["as_of"]) for r in rows)


def test_cli_months_moves_the_cutoff(capsys: pytest.CaptureFixture[str]) -> None:
    main(["models", "--stale", "--today", "2026-12-05", "--months", "18", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert {(r["key"], r["what"]) for r in rows} == _expected_from_raw_yaml(
        TODAY, dt.date(2025, 6, 5)
    )
    main(["models", "--stale", "--today", "2025-09-01", "--json"])
    assert json.loads(capsys.readouterr().out) == []


def test_cli_text_output_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--stale", "--today", "2026-12-05"]) == 0
    out = capsys.readouterr().out.splitlines()
    n = len(_expected_from_raw_yaml(TODAY, dt.date(2026, 6, 5)))
    assert out[0].startswith(f"{n} of ") and "more than 6 month(s) before 2026-12-05:" in out[0]
    assert out[1].split() == ["KEY", "WHAT", "AS_OF", "AGE_MONTHS"]
    assert len(out) == n + 3  # summary, header, rows, hint
    # Nothing stale is still status 0, and says so.
    assert main(["models", "--stale", "--today", "2025-09-01"]) == 0
    assert capsys.readouterr().out.startswith("0 of ")


def test_cli_filters_apply(capsys: pytest.CaptureFixture[str]) -> None:
    main(["models", "--stale", "--today", "2030-01-01", "--family", "llama", "--json"])
    keys = {r["key"].split("@")[0] for r in json.loads(capsys.readouterr().out)}
    llamas = {k for k, e in load_catalog().items() if e.family == "llama" and "@" not in k}
    assert keys == llamas


def test_cli_reads_the_clock_only_when_no_date_is_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import router.cli.models as models_cli

    monkeypatch.setattr(models_cli, "_today", lambda: dt.date(2040, 1, 1))
    main(["models", "--stale"])
    assert "before 2040-01-01" in capsys.readouterr().out
    main(["models", "--stale", "--today", "2025-09-01"])
    assert "before 2025-09-01" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stale", "--months", "0"], "must be greater than 0"),
        (["--stale", "--months", "six"], "expected a whole number"),
        (["--stale", "--today", "2026-02-30"], "expected a date YYYY-MM-DD"),
        (["--stale", "--today", "tomorrow"], "expected a date YYYY-MM-DD"),
        (["--months", "3"], "--months and --today go with --stale"),
        (["--today", "2026-12-05"], "--months and --today go with --stale"),
        (["--stale", "--config", "x.yaml"], "takes no --config or --zone"),
        (["--stale", "--zone", "local"], "takes no --config or --zone"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
