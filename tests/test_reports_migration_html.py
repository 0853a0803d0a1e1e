"""``llm-router migration report --html``: arm shares against the schedule, guard trips
and resumes, shadow distributions — rendered in headless Chromium, numbers equal to the
text report's."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import synthetic_ledger
from router.cli import main
from router.config.schema import RouteConfig
from router.migration.guard import GuardEvent, guard_events, resume
from router.migration.report import ArmShares, RouteEvidence, shadow_distributions
from router.reports.migration import migration_page
from router.state import open_store
from tests.browser import Tables, dump_dom, png_pixels, screenshot


def _run(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The config, its rendered page and its text report."""
    tmp = tmp_path_factory.mktemp("migration")
    cfg = synthetic_ledger.write_demo(tmp, 3000, pairs=150)
    page = tmp / "migration.html"
    _run("migration", "report", str(cfg), "--html", str(page))
    return cfg, page, _run("migration", "report", str(cfg))


def _text_table(text: str, after: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(after)) + 1
    if after.startswith("arm "):  # the window table's header is the marker line itself
        start -= 1
    rows = [re.split(r"\s{2,}", lines[start].strip())]
    for line in lines[start + 2 :]:
        if not line.startswith("    ") or not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_the_page_renders_and_is_not_blank(demo: tuple[Path, Path, str]) -> None:
    _, page, _ = demo
    _, _, pixels = png_pixels(screenshot(page, 900, 600))
    colours = Counter(px[:3] for px in pixels)
    assert len(colours) > 50
    assert len(pixels) - colours[(255, 255, 255)] > 0.04 * len(pixels)


def test_tables_equal_the_text_report(demo: tuple[Path, Path, str]) -> None:
    _, page, text = demo
    dom = Tables(dump_dom(page))
    per_day = dom.table("Guarded arms per day")
    assert per_day == _text_table(text, "guarded arms per day")
    local = synthetic_ledger.LOCAL
    trip_day = synthetic_ledger._iso(int(synthetic_ledger.TRIP))
    (row,) = [r for r in per_day if r[0] == trip_day]
    assert row[1:4] == ["60", "20", "0.333"]  # the failing attempts write_demo sent
    assert sum(int(r[1]) for r in per_day[1:]) == 60
    assert per_day[0][1] == f"{local} calls"
    shares = dom.table("Traffic per day by arm")
    assert shares == _text_table(text, "traffic per day by arm")
    assert len(shares) == 1 + synthetic_ledger.DAYS
    assert dom.table("Guard window") == _text_table(text, "arm ")
    events = dom.table("Guard events")
    assert events == _text_table(text, "guard events")
    assert [row[1] for row in events[1:]] == ["tripped", "resumed"]
    # Shadow summaries: every value the page shows is the one the text prints.
    sections = text.split("  from the ")
    for source, block in (("store", sections[1]), ("log", sections[2])):
        counts, sides = dom.under(f"Shadow summary from the {source}")
        assert counts[1] == ["pairs compared", "150"] and "150 pairs compared" in block
        for measure, value in counts[2:]:
            assert f"{value} {measure}" in block or f"{measure} {value}" in block, measure
        assert sides[0] == ["measure", "primary", "shadow"] and len(sides) == 5
        latency, cost, tokens, chars = sides[1:]
        assert f"latency primary {latency[1]} vs shadow {latency[2]}" in block
        assert f"cost primary {cost[1]} vs shadow {cost[2]}" in block
        assert f"tokens {tokens[1]} vs {tokens[2]}" in block
        assert f"output chars {chars[1]} vs {chars[2]}" in block


def test_the_share_chart_marks_the_trip_and_the_resume(demo: tuple[Path, Path, str]) -> None:
    cfg, page, _ = demo
    html = page.read_text(encoding="utf-8")
    local = synthetic_ledger.LOCAL
    assert f">tripped {local}</text>" in html and f">resumed {local}</text>" in html
    for needle in ("http://", "https://", "src=", "<script"):
        assert needle not in html
    data = json.loads(_run("migration", "report", str(cfg), "--json"))["support-bot"]
    assert [e["kind"] for e in data["guard_events"]] == ["tripped", "resumed"]
    assert sum(d["errors"] for d in data["guard_days"][local]) == 20
    assert sum(data["traffic"]["requests"][local]) > 0
    assert data["log"]["pairs"] == 150


def test_shadow_distributions_count_every_pair_once(
    demo: tuple[Path, Path, str], tmp_path: Path
) -> None:
    cfg, _, _ = demo
    log = tmp_path / "shadow.jsonl"
    log.write_text((cfg.parent / "shadow.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    with log.open("a", encoding="utf-8") as f:
        f.write('{"torn": \n')
        nan = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
        nan["similarity"] = float("nan")
        f.write(json.dumps(nan) + "\n")  # json writes NaN; a report must not choke on it
    d = shadow_distributions(str(log), "support-bot")
    assert d.pairs == 150
    assert sum(d.latency_ms.primary) == sum(d.latency_ms.shadow) == 150
    assert sum(d.cost_usd.shadow) == 150 and d.cost_usd.labels[0].endswith("(or 0)")
    assert sum(d.similarity[1]) == 150
    assert shadow_distributions(str(log), "other-route").pairs == 0


def test_guard_events_keep_trips_and_resumes_in_order() -> None:
    store = open_store("memory")
    assert guard_events(store, "r", "m") == []
    resume(store, "r", "m", now=200.0)
    store.set("mig:ev:r:m:0", "not an event")  # foreign keys are ignored
    store.incr("mig:ev:r:m")
    store.set("mig:ev:r:m:2", "{torn")
    resume(store, "r", "m", now=100.0)
    events = guard_events(store, "r", "m")
    assert [(e.at, e.kind) for e in events] == [(100.0, "resumed"), (200.0, "resumed")]
    assert "was not rolled back" in events[0].reason


EVIL = '</text><script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def test_names_and_reasons_cannot_inject_markup(tmp_path: Path) -> None:
    route = RouteConfig.model_validate(
        {"split": [{"model": EVIL, "weight": 50}, {"model": "b\"'><b>x", "weight": 50}]}
    )
    shares = ArmShares(
        route=EVIL,
        arms=(EVIL, "b\"'><b>x"),
        days=("2026-11-01", "2026-11-02"),
        first_day=synthetic_ledger.START,
        requests={EVIL: (3, 4), "b\"'><b>x": (5, 0)},
        scheduled={EVIL: (50.0, 50.0), "b\"'><b>x": (50.0, 50.0)},
    )
    ev = RouteEvidence(EVIL, route, shares=shares)
    ev.events = [GuardEvent(synthetic_ledger.START + 3600, "tripped", EVIL, EVIL)]
    page = tmp_path / "evil.html"
    page.write_text(migration_page([ev], config=EVIL), encoding="utf-8")
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    dom = Tables(dump_dom(page))
    tags = {tag for tag, _ in dom.elements}
    assert not tags & {"script", "img", "b"}
    assert not [n for _, attrs in dom.elements for n, _ in attrs if n.startswith("on")]
    assert dom.table("Traffic per day by arm")[0][2] == f"{EVIL} served"


def test_daily_guard_counters_give_error_rate_and_p95_and_survive_a_resume() -> None:
    from router.migration.stats import read_day, record

    store = open_store("memory")
    day = 20_000  # days since the epoch
    now = day * 86_400.0 + 3600
    for k in range(100):
        # 95 fast calls, then 5 slow failing ones: the p95 is in the fast calls' bin.
        slow = k >= 95
        latency = 2000.0 if slow else 50.0
        record(store, "r", "a", 0, ok=not slow, latency_ms=latency, now=now, window_s=600)
    resume(store, "r", "a", now=now)  # a new statistics epoch; the day's history stays
    record(store, "r", "a", 1, ok=True, latency_ms=50.0, now=now + 60, window_s=600)
    w = read_day(store, "r", "a", day)
    assert (w.samples, w.errors) == (101, 5)
    assert w.p95_ms is not None and 50 / 1.2 < w.p95_ms < 50 * 1.2
    assert read_day(store, "r", "a", day + 1).samples == 0
    assert read_day(store, "r", "other", day).p95_ms is None


def test_migration_html_errors(
    demo: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _, _ = demo
    bad = tmp_path / "no-such-dir" / "m.html"
    assert main(["migration", "report", str(cfg), "--html", str(bad)]) == 2
    assert "cannot write the report" in capsys.readouterr().err
    assert main(["migration", "report", str(cfg), "--html", str(bad), "--json"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_the_walk_through_example_writes_both_pages_from_a_real_router(tmp_path: Path) -> None:
    """The example sends real requests through the router (local servers) for 17 simulated
    days; its pages must hold what the text reports print for the same store."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = root / "examples" / "migrate_to_self_hosted.py"
    run = subprocess.run(
        [sys.executable, str(script), "--html", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=root,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    cfg = tmp_path / "router.yaml"
    text = _run("migration", "report", str(cfg))
    dom = Tables((tmp_path / "migration.html").read_text(encoding="utf-8"))
    assert dom.table("Traffic per day by arm") == _text_table(text, "traffic per day by arm")
    assert dom.table("Guarded arms per day") == _text_table(text, "guarded arms per day")
    events = dom.table("Guard events")
    assert [r[1] for r in events[1:]] == ["tripped", "resumed"]
    # The rollback shows in the traffic: on the trip's day the self-hosted arm served
    # far less than scheduled.
    trip_day = events[1][0][:10]
    (row,) = [r for r in dom.table("Traffic per day by arm") if r[0] == trip_day]
    assert float(row[2].rstrip("%")) < float(row[3].rstrip("%")) / 4
    spend = Tables((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert spend.table("Shift report")[1][0] == "llama-local"
