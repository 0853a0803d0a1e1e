"""Time the text spend report against the HTML one on a large synthetic ledger.

    python -m benchmarks.report_html                  # 1,000,000 ledger rows
    python -m benchmarks.report_html --rows 100000 --repeat 5

Both reports start from the same in-memory records and do the same work up
to their output: aggregate (:class:`~router.accounting.report.SpendCube`,
the shift report), then print text tables or render the page. Runs are
interleaved and the median of each is reported, with their ratio, the share
of the HTML time spent rendering (from a built cube) and the page's size.
Reading the JSON-lines ledger (``llm-router report --jsonl``) is the same
for both and left out; ``--cli`` times it too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import synthetic_ledger
from router.accounting import LedgerRecord
from router.accounting.report import SpendCube, format_shift, format_spend, shift_report
from router.config import load_dict
from router.reports.spend import DailyBudget, spend_page
from router.targets import resolve_targets

DIMS = ("tenant", "route", "model", "zone", "day")


def text_report(records: list[LedgerRecord], targets: dict) -> str:  # type: ignore[type-arg]
    """What ``llm-router report`` prints."""
    cube = SpendCube(records, DIMS)
    parts = [format_spend(d, cube.by(d)) for d in DIMS]
    parts.append(format_shift(shift_report(records, targets)))
    return "\n\n".join(parts)


def html_report(records: list[LedgerRecord], targets: dict) -> str:  # type: ignore[type-arg]
    """What ``llm-router report --html`` writes."""
    cube = SpendCube(records, DIMS)
    shift = shift_report(records, targets)
    return spend_page(cube, DIMS, shift=shift, budgets=[DailyBudget("tenant-daily", 10, "tenant")])


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    """Run and print the measurement."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time the CLI reading a JSONL file")
    args = ap.parse_args()

    t = time.perf_counter()
    records = synthetic_ledger.records(args.rows)
    built = time.perf_counter() - t
    targets = resolve_targets(load_dict(synthetic_ledger.config()))
    cube = SpendCube(records, DIMS)
    shift = shift_report(records, targets)
    print(
        f"{args.rows:,} ledger rows over {synthetic_ledger.DAYS} days "
        f"({len(cube):,} aggregate cells), generated in {built:.1f}s"
    )

    text_s, html_s, render_s = [], [], []
    for _ in range(args.repeat):
        text_s.append(_time(lambda: text_report(records, targets)))
        html_s.append(_time(lambda: html_report(records, targets)))
        render_s.append(_time(lambda: spend_page(cube, DIMS, shift=shift)))
    page = html_report(records, targets)
    text, html = statistics.median(text_s), statistics.median(html_s)
    render = statistics.median(render_s)
    print(f"text report:  {text:6.2f}s (median of {args.repeat})")
    print(f"HTML report:  {html:6.2f}s  = {html / text:.2f}x the text report")
    print(f"  of which rendering from the aggregates: {render * 1000:.0f}ms")
    print(f"HTML file:    {len(page.encode()):,} bytes")

    if args.cli:
        from router.cli import main as cli

        with tempfile.TemporaryDirectory() as d:
            ledger = Path(d) / "ledger.jsonl"
            with ledger.open("w", encoding="utf-8") as f:
                for r in records:
                    f.write(r.to_json() + "\n")
            base = ["report", "--jsonl", str(ledger), "--by", ",".join(DIMS)]
            quiet = contextlib.redirect_stdout(io.StringIO())
            with quiet, contextlib.redirect_stderr(io.StringIO()):
                cli_text = _time(lambda: cli(base))
                cli_html = _time(lambda: cli([*base, "--html", str(Path(d) / "r.html")]))
        print(
            f"CLI from JSONL: text {cli_text:.1f}s, HTML {cli_html:.1f}s "
            f"({cli_html / cli_text:.2f}x)"
        )


if __name__ == "__main__":
    main()
