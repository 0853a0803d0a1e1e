"""The page of ``llm-router migration report --html``: per route, the arms' share of
traffic against the schedule with guard trips and resumes marked, the guard's
window, and shadow comparisons (distributions from the shadow log).

It renders :class:`~router.migration.report.RouteEvidence` gathered by the
CLI, and its tables print the cells the text report prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..migration.compare import summary_cells
from ..migration.ramp import arm_weights
from ..migration.report import (
    ArmShares,
    Histogram,
    RouteEvidence,
    events_table,
    guard_days_table,
    shares_table,
)
from ..migration.report import window_table as guard_window_table
from ..migration.stats import Window
from . import svg
from .html import Section, heading, note, page, table

__all__ = ["migration_page"]

_SAMPLES_PER_DAY = 4  # the schedule line's resolution
Line = tuple[str, list[tuple[float, float]], bool]


def _date(first_day: float, t: float) -> str:
    return datetime.fromtimestamp(first_day + t * 86_400, UTC).strftime("%m-%d")


def _shares(ev: RouteEvidence, a: ArmShares) -> list[str]:
    served = [
        (
            f"{arm} served",
            [(i + 0.5, v) for i in range(len(a.days)) if (v := a.share(arm, i)) is not None],
            False,
        )
        for arm in a.arms
    ]
    n = len(a.days) * _SAMPLES_PER_DAY
    ts = [k / _SAMPLES_PER_DAY for k in range(n + 1)]
    weights = [arm_weights(ev.route, a.first_day + t * 86_400) for t in ts]
    scheduled = [
        (f"{arm} scheduled", [(t, w.get(arm, 0.0)) for t, w in zip(ts, weights, strict=True)], True)
        for arm in a.scheduled
    ]
    # Colours pair up: arm k's served and scheduled lines share colour k.
    ordered = []
    for arm, line in zip(a.arms, served, strict=True):
        ordered.append(line)
        ordered.extend(s for s in scheduled if s[0] == f"{arm} scheduled")
    marks = [(f"{e.kind} {e.model}", (e.at - a.first_day) / 86_400) for e in ev.events]
    chart = svg.line_chart(
        ordered,
        title=f"Share of {ev.name}'s requests per arm, against the schedule",
        x_label="day (UTC)",
        y_label="% of the route's requests",
        x_max=float(len(a.days)),
        x_fmt=lambda t: _date(a.first_day, t),
        y_fmt=lambda v: f"{v:.0f}%",
        y_max=100.0,
        vmarks=marks,
        pair_colours=True,
    )
    return [heading("Traffic per day by arm"), chart, table(*shares_table(a))]


def _guard(ev: RouteEvidence) -> list[str]:
    st = ev.guard
    if st is None:
        return []
    parts = [heading("Guard"), note(st.describe().splitlines()[0])]
    a = ev.shares
    if ev.guard_days and a is not None:
        parts.extend(_guard_day_charts(ev, a))
        parts.append(heading("Guarded arms per day"))
        parts.append(table(*guard_days_table(a.days, ev.guard_days)))
    parts.append(heading("Guard window"))
    parts.append(table(*guard_window_table(st)))
    parts.append(note(f"state: {'ARMED' if st.tripped is None else 'TRIPPED'}"))
    parts.append(heading("Guard events"))
    if ev.events:
        parts.append(table(*events_table(ev.events)))
    else:
        parts.append(note("No trip or resume recorded."))
    return parts


def _guard_day_charts(ev: RouteEvidence, a: ArmShares) -> list[str]:
    marks = [(f"{e.kind} {e.model}", (e.at - a.first_day) / 86_400) for e in ev.events]

    def lines(value: Callable[[Window], float | None]) -> list[Line]:
        out: list[Line] = []
        for arm, windows in ev.guard_days.items():
            pts = [(i + 0.5, v) for i, w in enumerate(windows) if (v := value(w)) is not None]
            out.append((arm, pts, False))
        return out

    common: dict[str, Any] = {
        "x_label": "day (UTC)",
        "x_max": float(len(a.days)),
        "x_fmt": lambda t: _date(a.first_day, t),
        "vmarks": marks,
    }
    return [
        svg.line_chart(
            lines(lambda w: 100.0 * w.error_rate if w.samples else None),
            title="Error rate per day of the guarded arm and its baseline",
            y_label="% of attempts failed",
            y_fmt=lambda v: f"{v:.3g}%",
            **common,
        ),
        svg.line_chart(
            lines(lambda w: w.p95_ms),
            title="p95 latency per day of the guarded arm and its baseline",
            y_label="milliseconds",
            y_fmt=lambda v: f"{v:,.0f}ms",
            **common,
        ),
    ]


def _histogram(title: str, h: Histogram, shadow: str) -> str:
    return svg.grouped_bars(
        list(h.labels),
        [("primary", list(h.primary)), (f"shadow {shadow}", list(h.shadow))],
        title=title,
        y_label="pairs",
        y_fmt=lambda v: f"{v:,.0f}",
    )


def _shadow(ev: RouteEvidence) -> list[str]:
    sh = ev.route.shadow
    if sh is None:
        return []
    parts = [heading(f"Shadow: primary against {sh.model} ({sh.sample_pct:g}% sampled)")]
    d = ev.distributions
    if d is not None and d.pairs:
        parts.append(_histogram("Latency of each answer (ms)", d.latency_ms, sh.model))
        parts.append(_histogram("Cost of each answer (USD)", d.cost_usd, sh.model))
        labels, counts = d.similarity
        parts.append(
            svg.grouped_bars(
                list(labels),
                [("pairs", list(counts))],
                title="Similarity of shadow to primary (token-set Jaccard)",
                y_label="pairs",
                y_fmt=lambda v: f"{v:,.0f}",
            )
        )
    elif sh.log:
        parts.append(note("The shadow log holds no pair for this route yet."))
    else:
        parts.append(note("Distributions need the route's shadow log (shadow: {log: FILE})."))
    for source in ("store", "log"):
        summary = ev.shadow.get(source)
        if summary is None:
            continue
        counts_rows, sides = summary_cells(summary)
        parts.append(heading(f"Shadow summary from the {source}"))
        parts.append(table(["measure", "value"], counts_rows))
        if sides:
            parts.append(table(["measure", "primary", "shadow"], sides))
    return parts


def migration_page(evidence: Sequence[RouteEvidence], *, config: str) -> str:
    """The whole HTML page."""
    sections = []
    for ev in evidence:
        r = ev.route
        lead = []
        if r.split:
            lead.append("split " + ", ".join(f"{a.model} ({a.weight:g})" for a in r.split))
        if r.ramp is not None:
            lead.append(
                f"ramp {r.ramp.model} {r.ramp.from_pct:g}% to {r.ramp.to_pct:g}% from "
                f"{r.ramp.start.isoformat()} to {r.ramp.end.isoformat()}"
            )
        sec = Section(f"Route {ev.name}", "; ".join(lead))
        if ev.shares is not None:
            if ev.shares.days:
                sec.parts.extend(_shares(ev, ev.shares))
            else:
                sec.parts.append(note("No ledger records for this route in the state store."))
        sec.parts.extend(_guard(ev))
        sec.parts.extend(_shadow(ev))
        sections.append(sec)
    if not sections:
        sections.append(Section("No route has a split or a shadow"))
    return page("LLM migration report", [f"config {config}"], sections)
