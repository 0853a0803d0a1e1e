"""``llm-router report --html``: the page a person opens, seen through headless Chromium.

The page is rendered by a real browser; the screenshot must show a chart
(not a blank page) and every number in the page's tables must be the text
report's for the same ledger.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import synthetic_ledger
from router.accounting import LedgerRecord
from router.accounting.report import SpendCube, shift_report, spend_by
from router.cli import main
from router.config import load_dict
from router.reports.breakeven import curves
from router.reports.svg import esc, nice_ticks
from router.targets import resolve_targets
from tests.browser import Tables, dump_dom, png_pixels, screenshot


def _write_ledger(tmp_path: Path, records: list[LedgerRecord]) -> tuple[Path, Path]:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    cfg = tmp_path / "router.yaml"
    state = f"sqlite:///{tmp_path / 'state.db'}"
    cfg.write_text(json.dumps(synthetic_ledger.config(state)), encoding="utf-8")
    return cfg, ledger


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 3,000-record ledger's page and its text report (same records, same options)."""
    tmp = tmp_path_factory.mktemp("report")
    cfg, ledger = _write_ledger(tmp, synthetic_ledger.records(3000))
    page = tmp / "report.html"
    dims = "tenant,route,model,zone,day"
    common = ["report", "-c", str(cfg), "--jsonl", str(ledger), "--by", dims]
    assert main([*common, "--html", str(page)]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(common) == 0
    return page, out.getvalue()


def _text_tables(text: str) -> dict[str, list[list[str]]]:
    """The text report's tables by title, each row split into its cells."""
    tables: dict[str, list[list[str]]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        title = line.strip()
        if title.startswith("Spend by ") or title.startswith("self-hosted target"):
            name = title if title.startswith("Spend by ") else "Shift report"
            start = i + 1 if name != "Shift report" else i
            rows = [re.split(r"\s{2,}", lines[start].strip())]
            for row in lines[start + 2 :]:
                if not row.strip() or row.strip().startswith("amortised ="):
                    break
                rows.append(re.split(r"\s{2,}", row.strip()))
            tables[name] = rows
    return tables


def test_the_page_renders_in_a_browser_and_is_not_blank(rendered: tuple[Path, str]) -> None:
    page, _ = rendered
    width, height, pixels = png_pixels(screenshot(page, 900, 700))
    assert (width, height) == (900, 700)
    colours = Counter(px[:3] for px in pixels)
    background, most = colours.most_common(1)[0]
    assert background == (255, 255, 255)
    # A blank (or unstyled error) page is one colour; the chart paints bars in several.
    assert len(colours) > 50, f"only {len(colours)} colours"
    assert len(pixels) - most > 0.05 * len(pixels), "under 5% of the page is not background"
    chart_blue = sum(1 for px in pixels if px[:3] == (0x00, 0x72, 0xB2))
    assert chart_blue > 2000, "the first series' bars are not drawn"


def test_every_table_number_equals_the_text_report(rendered: tuple[Path, str]) -> None:
    page, text = rendered
    dom = Tables(dump_dom(page))
    expected = _text_tables(text)
    for dim in ("tenant", "route", "model", "zone", "day"):
        assert dom.table(f"Spend by {dim}") == expected[f"Spend by {dim}"], dim
    assert dom.table("Shift report") == expected["Shift report"]
    # The per-day charts' tables: a TOTAL column equal to the day table's cost,
    # a TOTAL row equal to the zone (model) table's cost, cell by cell.
    by_day = {r[0]: r[4] for r in expected["Spend by day"][1:]}
    for dim in ("zone", "model"):
        pivot = dom.table(f"Spend per day by {dim}")
        header, *rows, total = pivot
        assert header[0] == "day" and header[-1] == "TOTAL"
        assert {r[0]: r[-1] for r in rows} == {k: v for k, v in by_day.items() if k != "TOTAL"}
        assert total[-1] == by_day["TOTAL"]
        by_dim = {r[0]: r[4] for r in expected[f"Spend by {dim}"][1:]}
        assert dict(zip(header[1:-1], total[1:-1], strict=True)) == {
            k: v for k, v in by_dim.items() if k != "TOTAL"
        }
    for line in text.splitlines():
        if line.startswith("  recorded paid traffic") or line.startswith("  it cost"):
            assert line.strip() in dump_dom(page)


def test_the_page_references_no_url_and_runs_no_script(rendered: tuple[Path, str]) -> None:
    page, _ = rendered
    html = page.read_text(encoding="utf-8")
    for needle in ("http://", "https://", "src=", "<script", "<link", "url(", "@import"):
        assert needle not in html.lower(), needle
    assert "default-src 'none'" in html  # the browser refuses any fetch the page might try


PROBES = (
    '</text><script>document.title="pwned"</script>',
    '"><img src=x onerror="document.title=\'pwned\'">',
    "</title></svg><svg onload=alert(1)>",
    "<!--",
    "ten&ant ' \" <b>bold</b>",
)


def test_names_from_the_ledger_cannot_inject_markup(tmp_path: Path) -> None:
    records = [
        LedgerRecord(
            ts=synthetic_ledger.START + 3600 * i,
            request_id=f"r{i}",
            route=probe,
            target=probe,
            model=probe,
            provider=probe,
            zone=probe,
            tenant=probe,
            user=probe,
            prompt_tokens=1000,
            completion_tokens=500,
            cost_usd=0.01 * (i + 1),
        )
        for i, probe in enumerate(PROBES)
    ]
    cfg, ledger = _write_ledger(tmp_path, records)
    page = tmp_path / "probe.html"
    assert main(["report", "-c", str(cfg), "--jsonl", str(ledger), "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    dom_text = dump_dom(page)
    dom = Tables(dom_text)
    tags = {tag for tag, _ in dom.elements}
    assert not tags & {"script", "img", "b", "iframe", "object"}, tags
    assert not [
        (tag, name) for tag, attrs in dom.elements for name, _ in attrs if name.startswith("on")
    ]
    # Two daily charts and the break-even chart: no element a name smuggled in.
    assert sum(1 for tag, _ in dom.elements if tag == "svg") == 3
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom_text).group(1)  # type: ignore[union-attr]
    # Each name shows as the very text it is.
    assert {r[0] for r in dom.table("Spend by tenant")[1:-1]} == set(PROBES)
    assert esc(PROBES[0]) in html


def test_cube_rollups_are_the_text_report_sums() -> None:
    recs = synthetic_ledger.records(2000)
    cube = SpendCube(recs)
    for dim in ("tenant", "model", "zone", "day", "route"):
        rows = cube.by(dim)
        assert rows == spend_by(recs, dim)
        assert sum(r.requests for r in rows) == len(recs)
    pivot = cube.pivot("day", "zone")
    for day in cube.by("day"):
        cells = [v for (d, _), v in pivot.items() if d == day.key]
        assert sum(c.requests for c in cells) == day.requests
        assert sum(c.cost_usd for c in cells) == pytest.approx(day.cost_usd)
    with pytest.raises(ValueError, match="unknown dimension"):
        cube.pivot("day", "colour")


def test_breakeven_curves_cross_where_the_shift_report_says() -> None:
    recs = synthetic_ledger.records(2000)
    targets = resolve_targets(load_dict(synthetic_ledger.config()))
    rep = shift_report(recs, targets)
    (row,) = rep.rows
    c = curves(rep, row)
    gpu_day = 24 * synthetic_ledger.GPU_HOUR_USD
    # The paid API line at today's volume is today's recorded cost per day.
    slope = c.api[1][1] / c.api[1][0]
    assert slope * c.today == pytest.approx(rep.cost_per_day)
    assert c.breakeven is not None and c.x_max > c.breakeven > c.today
    assert slope * c.breakeven == pytest.approx(gpu_day)  # one dedicated GPU's day
    assert c.dedicated[0] == (0.0, gpu_day)
    assert c.amortised[1][1] / c.amortised[1][0] == pytest.approx(row.amortised_usd / rep.requests)


def test_dedicated_cost_steps_up_one_gpu_per_capacity() -> None:
    recs = synthetic_ledger.records(500)
    cfg = synthetic_ledger.config()
    cfg["models"][synthetic_ledger.LOCAL]["cost"]["tokens_per_second"] = 0.05  # tiny GPU
    rep = shift_report(recs, resolve_targets(load_dict(cfg)))
    c = curves(rep, rep.rows[0])
    per_gpu = 24 * synthetic_ledger.GPU_HOUR_USD
    ys = [y for _, y in c.dedicated]
    assert ys == sorted(ys) and ys[-1] >= 2 * per_gpu
    assert all(round(y / per_gpu, 6).is_integer() for y in ys)


def test_report_html_errors_and_empty_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, ledger = _write_ledger(tmp_path, synthetic_ledger.records(50))
    bad = tmp_path / "missing-dir" / "r.html"
    assert main(["report", "-c", str(cfg), "--jsonl", str(ledger), "--html", str(bad)]) == 2
    assert "cannot write the report" in capsys.readouterr().err
    page = tmp_path / "empty.html"
    args = ["report", "-c", str(cfg), "--jsonl", str(ledger), "--since", "2030-01-01"]
    assert main([*args, "--html", str(page)]) == 0
    assert "No ledger records in that range." in page.read_text(encoding="utf-8")


def test_nice_ticks_cover_the_data() -> None:
    for hi in (0.0003, 0.9, 1.0, 7.3, 42.0, 1234.5, 9_999_999.0):
        ticks = nice_ticks(hi)
        assert ticks[0] == 0 and ticks[-1] >= hi and 3 <= len(ticks) <= 8
    assert nice_ticks(0.0) == [0.0, 1.0] and nice_ticks(float("nan")) == [0.0, 1.0]


def test_a_missing_browser_fails_under_ci_and_skips_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tests.browser as browser

    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="required for CI"):
        browser.chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        browser.chromium()


def test_long_tables_are_capped_but_agree_with_the_text_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.reports.spend import MAX_ROWS

    records = [
        LedgerRecord(
            ts=synthetic_ledger.START + 86_400 * (i % 3) * 2,  # days 0, 2 and 4: gaps between
            request_id=f"r{i}",
            route="r",
            target="m",
            model="m",
            provider="p",
            zone="z",
            user=f"user-{i:04d}",
            prompt_tokens=10,
            completion_tokens=5,
            cost_usd=0.001 * (i + 1),
        )
        for i in range(MAX_ROWS + 150)
    ]
    cfg, ledger = _write_ledger(tmp_path, records)
    page = tmp_path / "users.html"
    args = ["report", "-c", str(cfg), "--jsonl", str(ledger), "--by", "user,day"]
    assert main([*args, "--html", str(page)]) == 0
    capsys.readouterr()
    assert main(args) == 0
    text = _text_tables(capsys.readouterr().out)
    users = Tables(page.read_text(encoding="utf-8")).table("Spend by user")
    assert users[: MAX_ROWS + 1] == text["Spend by user"][: MAX_ROWS + 1]  # header + top rows
    assert users[MAX_ROWS + 1][0] == "… 150 more (all of them in llm-router report)"
    assert users[-1] == text["Spend by user"][-1]  # TOTAL
    assert len(users) == MAX_ROWS + 3
    html = page.read_text(encoding="utf-8")
    # The chart has a slot for each calendar day, the tables only the days with records.
    assert [r[0] for r in text["Spend by day"][1:-1]] == ["2026-11-01", "2026-11-03", "2026-11-05"]
    assert ">2026-11-02 " not in html and "2026-11-04" in html


def test_calendar_fills_the_gaps() -> None:
    from router.reports.spend import _calendar

    assert _calendar(["2026-12-30", "2027-01-02"]) == [
        "2026-12-30",
        "2026-12-31",
        "2027-01-01",
        "2027-01-02",
    ]
    assert _calendar([]) == []


def test_html_cannot_be_combined_with_json_or_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, ledger = _write_ledger(tmp_path, synthetic_ledger.records(20))
    base = ["report", "-c", str(cfg), "--jsonl", str(ledger), "--html", str(tmp_path / "x.html")]
    for other in ("--json", "--records"):
        assert main([*base, other]) == 2
        assert "not allowed with argument --html" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_an_audit_log_without_a_config_gives_the_spend_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    lines = []
    for i, (tenant, target, zone, cost) in enumerate(
        [("a", "gpt", "frontier", 0.25), ("b", "gpt", "frontier", 1.5), ("a", "llama", "local", 0)]
        * 4
    ):
        lines.append(
            {
                "time": f"2026-11-0{1 + i % 3}T10:00:00+00:00",
                "decision_id": f"d{i}",
                "outcome": "ok",
                "route": "bot",
                "tenant": tenant,
                "target": target,
                "zone": zone,
                "input_tokens": 100,
                "output_tokens": 50,
                "cost_usd": cost,
            }
        )
    lines.append({"time": "2026-11-01T11:00:00+00:00", "decision_id": "x", "outcome": "denied"})
    audit.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    page = tmp_path / "audit.html"
    assert main(["report", "--jsonl", str(audit), "--html", str(page)]) == 0
    capsys.readouterr()
    assert main(["report", "--jsonl", str(audit)]) == 0
    text = _text_tables(capsys.readouterr().out)
    dom = Tables(page.read_text(encoding="utf-8"))
    for dim in ("tenant", "route", "model", "zone", "day"):
        assert dom.table(f"Spend by {dim}") == text[f"Spend by {dim}"]
    assert text["Spend by tenant"][-1][:2] == ["TOTAL", "12"]  # the denied request has no spend
    assert "Give --config: the self-hosted targets" in page.read_text(encoding="utf-8")


def test_a_budget_far_above_the_spend_is_named_not_drawn() -> None:
    from router.reports.spend import DailyBudget, spend_page

    cube = SpendCube(synthetic_ledger.records(300))
    peak = max(d.cost_usd for d in cube.by("day"))
    near, far = DailyBudget("near", peak * 2, "tenant"), DailyBudget("far", peak * 50, "tenant")
    html = spend_page(cube, ["day"], shift=None, budgets=[near, far])
    assert html.count("<title>budget near:") == 4  # line and legend, on each daily chart
    assert "<title>budget far" not in html
    assert html.count("Above the chart (over three times the busiest day): budget far") == 2


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_in_a_ledger_line_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    ledger = tmp_path / "bad.jsonl"
    good = synthetic_ledger.records(1)[0].to_json()
    bad = f'{{"ts": 1800000000, "route": "r", "target": "t", "cost_usd": {value}}}'
    ledger.write_text(f"{good}\n{bad}\n", encoding="utf-8")
    for extra in ([], ["--html", str(tmp_path / "r.html")]):
        assert main(["report", "--jsonl", str(ledger), *extra]) == 2
        err = capsys.readouterr().err
        assert f"{ledger}:2:" in err and "'cost_usd' is not a finite number" in err
    assert not (tmp_path / "r.html").exists()
