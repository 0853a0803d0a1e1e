"""Charts as inline SVG text: stacked bars, grouped bars and lines with markers.

No dependency and no script: a chart is a string of SVG elements that any
browser (or mail client that shows HTML) draws offline. Every text that comes
from data — model, route, tenant and zone names — goes through :func:`esc`,
so a name cannot close an element or open a new one. Values are plotted as
given: callers aggregate first, so a chart's size depends on its days and
series, never on the number of ledger records.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["PALETTE", "Chart", "esc", "grouped_bars", "line_chart", "nice_ticks", "stacked_bars"]

# Colour-blind-safe (Okabe-Ito), then greys for overflow series.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#999999",
    "#666666",
)

_W, _H = 760, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 16, 28, 46
_LABEL = 60  # legend labels longer than this are cut (the full name is in a tooltip)


def esc(text: object) -> str:
    """``text`` escaped for SVG/HTML text and quoted attributes."""
    return html.escape(str(text), quote=True)


def colour(i: int) -> str:
    """The ``i``-th series colour."""
    return PALETTE[i % len(PALETTE)]


def nice_ticks(hi: float, n: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``hi`` (about ``n`` of them)."""
    if not hi > 0 or math.isinf(hi):
        return [0.0, 1.0]
    raw = hi / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    count = math.ceil(hi / step - 1e-9)
    return [i * step for i in range(count + 1)]


@dataclass
class Chart:
    """A frame with a y axis from 0; the chart functions add their marks to ``body``."""

    title: str
    y_label: str
    y_max: float
    y_fmt: Callable[[float], str]
    body: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ticks = nice_ticks(self.y_max)
        self.top = self.ticks[-1] or 1.0

    @property
    def plot_w(self) -> float:
        """Width of the plotting area."""
        return _W - _LEFT - _RIGHT

    def y(self, v: float) -> float:
        """The pixel row of value ``v``."""
        v = min(max(v, 0.0), self.top * 1.05)
        return _TOP + (_H - _TOP - _BOTTOM) * (1 - v / self.top)

    def render(self, legend: Sequence[tuple[str, str, bool]], x_labels: Sequence[str]) -> str:
        """The whole ``<svg>``: axes, ticks, ``body``, legend (name, colour, dashed)."""
        out = [
            f'<svg viewBox="0 0 {_W} {_H + 22 * _rows(legend)}"'
            f' width="{_W}" role="img" aria-label="{esc(self.title)}">',
            f"<title>{esc(self.title)}</title>",
            f'<rect x="0" y="0" width="{_W}" height="{_H + 22 * _rows(legend)}" fill="#fff"/>',
            f'<text x="{_LEFT}" y="15" font-size="13" font-weight="600">{esc(self.title)}</text>',
        ]
        for t in self.ticks:
            yy = self.y(t)
            out.append(
                f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
                'stroke="#e3e3e3"/>'
                f'<text x="{_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" '
                f'font-size="11">{esc(self.y_fmt(t))}</text>'
            )
        out.append(
            f'<text x="14" y="{_TOP + (_H - _TOP - _BOTTOM) / 2:.0f}" font-size="11" '
            f'transform="rotate(-90 14 {_TOP + (_H - _TOP - _BOTTOM) / 2:.0f})" '
            f'text-anchor="middle">{esc(self.y_label)}</text>'
        )
        out.extend(self.body)
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{self.y(0):.1f}" y2="{self.y(0):.1f}" '
            'stroke="#333"/>'
        )
        out.extend(x_labels)
        x, row = _LEFT, 0
        for name, col, dashed in legend:
            label = name if len(name) <= _LABEL else name[: _LABEL - 1] + "…"
            width = 24 + 7 * len(label)
            if x + width > _W - _RIGHT:
                x, row = _LEFT, row + 1
            yy = _H + 4 + 22 * row
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            out.append(
                f'<line x1="{x}" x2="{x + 16}" y1="{yy}" y2="{yy}" stroke="{col}" '
                f'stroke-width="6"{dash}/><text x="{x + 20}" y="{yy + 4}" font-size="11">'
                f"<title>{esc(name)}</title>{esc(label)}</text>"
            )
            x += width + 12
        out.append("</svg>")
        return "".join(out)


def _rows(legend: Sequence[tuple[str, str, bool]]) -> int:
    x, rows = _LEFT, 1
    for name, _, _ in legend:
        width = 24 + 7 * min(len(name), _LABEL) + 12
        if x + width > _W - _RIGHT:
            x, rows = _LEFT, rows + 1
        x += width
    return rows


def _category_labels(chart: Chart, categories: Sequence[str]) -> list[str]:
    n = len(categories)
    step = chart.plot_w / max(n, 1)
    # Label every k-th category so that the longest label fits (about 6.5 px a character).
    widest = 6.5 * max((len(c) for c in categories), default=1) + 10
    every = max(1, math.ceil(widest / step))
    return [
        f'<text x="{_LEFT + step * (i + 0.5):.1f}" y="{_H - _BOTTOM + 16}" font-size="11" '
        f'text-anchor="middle">{esc(c)}</text>'
        for i, c in enumerate(categories)
        if i % every == 0
    ]


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    y_label: str,
    y_fmt: Callable[[float], str],
    hlines: Sequence[tuple[str, float]] = (),
) -> str:
    """One bar per category, stacked by series, with labelled horizontal lines."""
    totals = [sum(s[1][i] for s in series) for i in range(len(categories))]
    chart = Chart(title, y_label, max([*totals, *(v for _, v in hlines), 0.0]), y_fmt)
    step = chart.plot_w / max(len(categories), 1)
    bar = max(1.0, step * 0.72)
    for i, cat in enumerate(categories):
        base = 0.0
        x = _LEFT + step * i + (step - bar) / 2
        for j, (name, values) in enumerate(series):
            v = values[i]
            if v <= 0:
                continue
            y0, y1 = chart.y(base), chart.y(base + v)
            chart.body.append(
                f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bar:.1f}" height="{y0 - y1:.1f}" '
                f'fill="{colour(j)}"><title>{esc(cat)} {esc(name)}: {esc(y_fmt(v))}</title></rect>'
            )
            base += v
    legend = [(name, colour(j), False) for j, (name, _) in enumerate(series)]
    for k, (label, value) in enumerate(hlines):
        yy = chart.y(value)
        col = "#B00020" if k == 0 else "#7a0016"
        chart.body.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{col}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"><title>{esc(label)}</title></line>'
        )
        legend.append((label, col, True))
    return chart.render(legend, _category_labels(chart, categories))


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    y_label: str,
    y_fmt: Callable[[float], str],
) -> str:
    """Side-by-side bars per category (a histogram of two or more series)."""
    chart = Chart(title, y_label, max([v for _, vs in series for v in vs] + [0.0]), y_fmt)
    step = chart.plot_w / max(len(categories), 1)
    width = max(1.0, step * 0.8 / max(len(series), 1))
    for i, cat in enumerate(categories):
        for j, (name, values) in enumerate(series):
            v = values[i]
            if v <= 0:
                continue
            x = _LEFT + step * i + step * 0.1 + width * j
            y1 = chart.y(v)
            chart.body.append(
                f'<rect x="{x:.1f}" y="{y1:.1f}" width="{width:.1f}" '
                f'height="{chart.y(0) - y1:.1f}" fill="{colour(j)}">'
                f"<title>{esc(name)} {esc(cat)}: {esc(y_fmt(v))}</title></rect>"
            )
    legend = [(name, colour(j), False) for j, (name, _) in enumerate(series)]
    return chart.render(legend, _category_labels(chart, categories))


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float]], bool]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_max: float,
    x_fmt: Callable[[float], str],
    y_fmt: Callable[[float], str],
    y_max: float | None = None,
    vmarks: Sequence[tuple[str, float]] = (),
    pair_colours: bool = False,
) -> str:
    """Lines through (x, y) points (name, points, dashed), with labelled vertical markers.

    With ``pair_colours`` a dashed line takes the colour of the solid line
    before it (a measured series and its target).
    """
    top = y_max if y_max is not None else max([y for _, pts, _ in series for _, y in pts] + [0.0])
    chart = Chart(title, y_label, top, y_fmt)
    x_top = x_max if x_max > 0 else 1.0

    def px(x: float) -> float:
        return _LEFT + chart.plot_w * min(max(x, 0.0), x_top) / x_top

    colours, k = [], -1
    for _, _, dashed in series:
        k += 0 if pair_colours and dashed and k >= 0 else 1
        colours.append(colour(k))
    for (name, pts, dashed), col in zip(series, colours, strict=True):
        if not pts:
            continue
        path = " ".join(f"{px(x):.1f},{chart.y(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        chart.body.append(
            f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="2"{dash}>'
            f"<title>{esc(name)}</title></polyline>"
        )
    legend = [(name, col, d) for (name, _, d), col in zip(series, colours, strict=True)]
    for k, (label, x) in enumerate(vmarks):
        xx = px(x)
        # Labels step down so that marks close together stay readable.
        chart.body.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{_TOP}" y2="{chart.y(0):.1f}" stroke="#B00020" '
            f'stroke-width="1.5" stroke-dasharray="2 3"><title>{esc(label)}</title></line>'
            f'<text x="{xx + 3:.1f}" y="{_TOP + 10 + 13 * (k % 4)}" font-size="11" '
            f'fill="#B00020">{esc(label)}</text>'
        )
    labels = [
        f'<text x="{px(t):.1f}" y="{_H - _BOTTOM + 16}" font-size="11" text-anchor="middle">'
        f"{esc(x_fmt(t))}</text>"
        for t in nice_ticks(x_top)
        if t <= x_top * 1.0001
    ]
    labels.append(
        f'<text x="{_LEFT + chart.plot_w / 2:.0f}" y="{_H - 8}" font-size="11" '
        f'text-anchor="middle">{esc(x_label)}</text>'
    )
    return chart.render(legend, labels)
