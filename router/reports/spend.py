"""The spend page of ``llm-router report --html``: spend per day, the spend tables, break-even.

It renders from the aggregates the text report prints — a
:class:`~router.accounting.report.SpendCube` and a
:class:`~router.accounting.report.ShiftReport` — and its tables reuse the
text report's cells, so the page and ``llm-router report`` show the same
numbers for the same ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..accounting.report import (
    SHIFT_LEGEND,
    ShiftReport,
    SpendCube,
    money,
    shift_summary,
    shift_table,
    spend_table,
)
from . import svg
from .breakeven import curves
from .html import Section, heading, note, page, table

__all__ = ["MAX_DAY_ROWS", "MAX_ROWS", "DailyBudget", "spend_page", "usd_tick"]

_MAX_SERIES = 8  # beyond this a stacked chart is unreadable: the rest is "other"
MAX_ROWS = 200
"""Rows a spend table shows (highest cost first) before its TOTAL: ``--by user`` can
have millions, and the page must stay small."""
MAX_DAY_ROWS = 1000


@dataclass(frozen=True, slots=True)
class DailyBudget:
    """A ``per: day`` budget of the config, drawn as a line on the daily charts."""

    name: str
    usd: float
    key: str


def _calendar(days: Sequence[str]) -> list[str]:
    if not days:
        return []
    first = datetime.strptime(days[0], "%Y-%m-%d")
    count = (datetime.strptime(days[-1], "%Y-%m-%d") - first).days + 1
    return [(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)]


def _capped(header: list[str], body: list[list[str]], limit: int) -> str:
    """A spend table with at most ``limit`` rows before its TOTAL line (the rest counted)."""
    rows, total = body[:-1], body[-1]
    if len(rows) <= limit:
        return table(header, body)
    more = f"… {len(rows) - limit:,} more (all of them in llm-router report)"
    return table(header, [*rows[:limit], [more] + [""] * (len(header) - 1), total])


def usd_tick(v: float) -> str:
    """An axis label in dollars: as short as the value allows."""
    if v == 0:
        return "$0"
    if v >= 1000:
        return f"${v:,.0f}"
    return f"${v:.4g}"


def _by_day(cube: SpendCube, dim: str, budgets: Sequence[DailyBudget]) -> Section:
    days = cube.by("day")
    order = [r.key for r in cube.by(dim)]  # highest spend first
    shown, rest = order[: _MAX_SERIES - 1], order[_MAX_SERIES - 1 :]
    if len(rest) == 1:
        shown, rest = order, []
    cells = cube.pivot("day", dim)
    series: list[tuple[str, list[float]]] = [
        (name, [cells[(d.key, name)].cost_usd if (d.key, name) in cells else 0.0 for d in days])
        for name in shown
    ]
    if rest:
        other = [sum(cells[(d.key, n)].cost_usd for n in rest if (d.key, n) in cells) for d in days]
        series.append((f"other ({len(rest)} {dim}s)", other))
    # A budget far above the spend would flatten the bars into the axis: such
    # budgets are named in the text above the chart instead of drawn.
    peak = max((d.cost_usd for d in days), default=0.0)
    drawn = [b for b in budgets if b.usd <= 3 * peak]
    above = [b for b in budgets if b.usd > 3 * peak]
    lines = [(f"budget {b.name}: {money(b.usd)}/day per {b.key}", b.usd) for b in drawn]
    # The chart shows every calendar day, a day without records as an empty slot,
    # so that a gap in traffic is not drawn as two adjacent days.
    calendar = _calendar([d.key for d in days])
    at = {d.key: i for i, d in enumerate(days)}
    chart = svg.stacked_bars(
        calendar,
        [(n, [v[at[c]] if c in at else 0.0 for c in calendar]) for n, v in series],
        title=f"Spend per day by {dim}",
        y_label="USD per day",
        y_fmt=usd_tick,
        hlines=lines,
    )
    totals = {r.key: r.cost_usd for r in cube.by(dim)}
    header = ["day", *(name for name, _ in series), "TOTAL"]
    body = [
        [d.key, *(money(values[i]) for _, values in series), money(d.cost_usd)]
        for i, d in enumerate(days)
    ]
    body.append(
        [
            "TOTAL",
            *(money(totals[n]) for n in shown),
            *([money(sum(totals[n] for n in rest))] if rest else []),
            money(sum(d.cost_usd for d in days)),
        ]
    )
    lead = f"Marginal (billed) cost per UTC day, stacked by {dim}."
    if drawn:
        lead += (
            " Dashed lines: the config's daily budgets; each holds for every value of its "
            "key separately, so the total may pass a line while every key stays under it."
        )
    if above:
        lead += " Above the chart (over three times the busiest day): " + ", ".join(
            f"budget {b.name} {money(b.usd)}/day per {b.key}" for b in above
        )
        lead += "."
    return Section(f"Spend per day by {dim}", lead, [chart, _capped(header, body, MAX_DAY_ROWS)])


def _breakeven(shift: ShiftReport) -> Section:
    sec = Section(
        "Break-even: paid API against self-hosting",
        "Cost per day against requests per day, at the recorded tokens and cost per paid "
        "request. Solid: the paid API. Dashed: the self-hosted target amortised (its GPU "
        "price spread over tokens at full utilisation, a floor) and dedicated (whole GPUs "
        "rented around the clock).",
    )
    sec.parts.extend(note(line) for line in shift_summary(shift))
    if not shift.rows:
        sec.parts.append(note("No self-hosted target has cost: {gpu_hour_usd, tokens_per_second}."))
        return sec
    for row in shift.rows:
        c = curves(shift, row)
        marks = [(f"today {c.today:,.0f}/day", c.today)]
        if c.breakeven is not None:
            marks.append((f"break-even {c.breakeven:,.0f}/day", c.breakeven))
        sec.parts.append(heading(row.target))
        sec.parts.append(
            svg.line_chart(
                [
                    ("paid API (recorded)", c.api, False),
                    (f"{row.target} amortised", c.amortised, True),
                    (f"{row.target} dedicated", c.dedicated, True),
                ],
                title=f"Cost per day: paid API vs {row.target}",
                x_label="requests per day",
                y_label="USD per day",
                x_max=c.x_max,
                x_fmt=lambda v: f"{v:,.0f}",
                y_fmt=usd_tick,
                vmarks=marks,
            )
        )
    sec.parts.append(heading("Shift report"))
    sec.parts.append(table(*shift_table(shift)))
    sec.parts.append(note(SHIFT_LEGEND))
    return sec


def spend_page(
    cube: SpendCube,
    dims: Sequence[str],
    *,
    shift: ShiftReport | None,
    budgets: Sequence[DailyBudget] = (),
    meta: Sequence[str] = (),
    no_shift: str = "",
) -> str:
    """The whole HTML page; ``no_shift`` says why there is no break-even (no ``shift``)."""
    sections: list[Section] = []
    if len(cube):
        sections.append(_by_day(cube, "zone", budgets))
        sections.append(_by_day(cube, "model", budgets))
        tables = Section("Spend tables", "The tables of llm-router report, for the same records.")
        for d in dims:
            tables.parts.append(heading(f"Spend by {d}"))
            limit = MAX_DAY_ROWS if d == "day" else MAX_ROWS
            tables.parts.append(_capped(*spend_table(d, cube.by(d)), limit))
        sections.append(tables)
    else:
        sections.append(Section("Spend", "No ledger records in that range."))
    if shift is not None:
        sections.append(_breakeven(shift))
    elif no_shift:
        sections.append(Section("Break-even: paid API against self-hosting", no_shift))
    return page("LLM spend report", meta, sections)
