"""Spend reports over ledger records, and the shift report.

The shift report answers the platform owner's question before moving traffic
off paid APIs: what did the recorded paid traffic cost, what would the same
tokens cost on each self-hosted target of the config, and from which daily
volume does a dedicated GPU pay for itself.

Arithmetic (per self-hosted target with ``cost: {gpu_hour_usd, tokens_per_second}``):

- capacity per GPU and day = ``tokens_per_second * 86 400``;
- amortised cost = tokens * ``gpu_hour_usd / 3600 / tokens_per_second``
  (the GPU's price spread over tokens at full utilisation: a floor);
- dedicated cost = GPUs needed for the observed daily volume *
  24 * ``gpu_hour_usd`` * days (what renting the GPUs around the clock costs);
- break-even volume per day = 24 * ``gpu_hour_usd`` / the observed blended
  price per token. Below it the paid API is cheaper than one dedicated GPU;
  above it (up to the GPU's capacity) the GPU is. When the API's blended
  price is below the amortised price there is no break-even.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..targets import Target
from .ledger import LedgerRecord
from .pricing import amortised_usd_per_token

__all__ = [
    "CHART_DIMENSIONS",
    "DIMENSIONS",
    "ShiftReport",
    "ShiftRow",
    "SpendCube",
    "SpendRow",
    "breakeven_requests_per_day",
    "format_shift",
    "format_spend",
    "money",
    "shift_report",
    "shift_summary",
    "shift_table",
    "spend_by",
    "spend_table",
    "text_table",
]

DIMENSIONS = ("tenant", "user", "route", "model", "provider", "zone", "day", "traffic")
"""``traffic`` is ``primary``, ``shadow`` (copies sent by a route's ``shadow``) or
``cache`` (answers served from the response cache: nothing sent, nothing spent)."""

_PICO = 10**12

CHART_DIMENSIONS = ("day", "zone", "model")
"""Kept in every :class:`SpendCube`: the HTML report charts spend per day by zone and model."""


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class SpendRow:
    """Totals for one value of a dimension."""

    key: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    amortised_cost_usd: float
    estimated: int
    """Requests whose usage was estimated (no usage returned, or interrupted)."""


def _traffic(r: LedgerRecord) -> str:
    if r.shadow_of:
        return "shadow"
    return "cache" if r.cache == "hit" else "primary"


def _check(dim: str) -> int:
    if dim not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dim!r}; use one of {', '.join(DIMENSIONS)}")
    return DIMENSIONS.index(dim)


class SpendCube:
    """Ledger records summed once per combination of the values of some dimensions.

    The one aggregate every spend number is read from: the text report's
    tables (:meth:`by`) and the HTML report's charts and pivots (:meth:`pivot`)
    roll up the same cells in the same order, so for the same ``dims`` they
    print the same numbers. ``day``, ``zone`` and ``model`` (the daily
    charts' dimensions) are always kept, so the text and HTML reports build
    the same cube for the same ``--by``. Roll-ups are memoised.
    """

    __slots__ = ("_cells", "_memo", "_pos")

    def __init__(self, records: Iterable[LedgerRecord], dims: Iterable[str] = DIMENSIONS) -> None:
        keep = set(dims) | set(CHART_DIMENSIONS)
        for d in keep:
            _check(d)
        order = [d for d in DIMENSIONS if d in keep]
        self._pos = {d: i for i, d in enumerate(order)}
        # At least three dimensions are kept, so the getter always returns a tuple.
        project = operator.itemgetter(*(DIMENSIONS.index(d) for d in order))
        cells: dict[tuple[str, ...], list[int]] = {}
        days: dict[int, str] = {}
        for r in records:
            n = int(r.ts // 86_400)  # UTC days start on multiples of 86 400 s
            day = days.get(n)
            if day is None:
                day = days[n] = _day(r.ts)
            key = project(
                (
                    r.tenant or "-",
                    r.user or "-",
                    r.route or "-",
                    r.target,
                    r.provider or "-",
                    r.zone or "-",
                    day,
                    _traffic(r),
                )
            )
            a = cells.get(key)
            if a is None:
                a = cells[key] = [0, 0, 0, 0, 0, 0]
            a[0] += 1
            a[1] += r.prompt_tokens
            a[2] += r.completion_tokens
            # Dollars are summed as whole picodollars: integer sums do not depend on
            # the order of addition, so every roll-up of every cube gives the same total.
            a[3] += round(r.cost_usd * _PICO)
            a[4] += round((r.amortised_cost_usd or 0.0) * _PICO)
            a[5] += 1 if r.estimated else 0
        self._cells = cells
        self._memo: dict[tuple[object, ...], dict[tuple[str, ...], list[int]]] = {}

    def __len__(self) -> int:
        return len(self._cells)

    def _index(self, dim: str) -> int:
        _check(dim)
        if dim not in self._pos:
            raise ValueError(f"dimension {dim!r} was not aggregated (have {', '.join(self._pos)})")
        return self._pos[dim]

    def _rollup(
        self, dims: Sequence[str], where: Mapping[str, str] | None = None
    ) -> dict[tuple[str, ...], list[int]]:
        idx = tuple(self._index(d) for d in dims)
        match = tuple((self._index(d), v) for d, v in sorted((where or {}).items()))
        memo = self._memo.get((idx, match))
        if memo is not None:
            return memo
        acc: dict[tuple[str, ...], list[int]] = {}
        for key, a in self._cells.items():
            if match and any(key[i] != v for i, v in match):
                continue
            k = tuple(key[i] for i in idx)
            t = acc.get(k)
            if t is None:
                acc[k] = list(a)
            else:
                for j in range(6):
                    t[j] += a[j]
        self._memo[(idx, match)] = acc
        return acc

    def by(self, dim: str) -> list[SpendRow]:
        """Totals per value of ``dim`` (one of :data:`DIMENSIONS`): by day, else by cost."""
        acc = self._rollup((dim,))
        rows = [_row(k[0], a) for k, a in acc.items()]
        if dim == "day":
            return sorted(rows, key=lambda x: x.key)
        return sorted(rows, key=lambda x: (-x.cost_usd, x.key))

    def pivot(
        self, rows: str, columns: str, where: Mapping[str, str] | None = None
    ) -> dict[tuple[str, str], SpendRow]:
        """Totals per (``rows`` value, ``columns`` value) pair that has records.

        ``where`` keeps only the records whose dimensions have the given values
        (``{"route": "support-bot", "traffic": "primary"}``).
        """
        acc = self._rollup((rows, columns), where)
        return {(k[0], k[1]): _row(f"{k[0]} / {k[1]}", a) for k, a in acc.items()}


def _row(key: str, a: list[int]) -> SpendRow:
    return SpendRow(key, a[0], a[1], a[2], a[3] / _PICO, a[4] / _PICO, a[5])


def spend_by(records: Iterable[LedgerRecord], dim: str) -> list[SpendRow]:
    """Totals per value of ``dim`` (one of :data:`DIMENSIONS`), by cost, highest first."""
    _check(dim)
    return SpendCube(records, (dim,)).by(dim)


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """The recorded paid traffic, priced on one self-hosted target."""

    target: str
    gpu_hour_usd: float
    tokens_per_second: float
    capacity_tokens_per_day: float
    amortised_usd: float
    gpus: int
    dedicated_usd: float
    breakeven_tokens_per_day: float | None
    """``None``: the paid traffic is cheaper per token than this GPU at full load."""


@dataclass(frozen=True, slots=True)
class ShiftReport:
    """What the recorded paid traffic cost, and what it would cost self-hosted."""

    days: int
    requests: int
    tokens: int
    cost_usd: float
    tokens_per_day: float
    cost_per_day: float
    usd_per_million_tokens: float
    self_hosted_tokens: int
    """Tokens already served by zero-marginal-cost targets (not counted above)."""
    rows: tuple[ShiftRow, ...]

    @property
    def requests_per_day(self) -> float:
        """Paid requests per day."""
        return self.requests / self.days

    @property
    def usd_per_request(self) -> float:
        """The recorded paid cost of one request, on average."""
        return self.cost_usd / self.requests if self.requests else 0.0

    @property
    def tokens_per_request(self) -> float:
        """Input plus output tokens of one paid request, on average."""
        return self.tokens / self.requests if self.requests else 0.0


def shift_report(
    records: Sequence[LedgerRecord], targets: Mapping[str, Target], days: int | None = None
) -> ShiftReport:
    """Price the paid traffic of ``records`` on every self-hosted target of ``targets``.

    ``days`` defaults to the calendar days (UTC) from the first record to the last.
    Shadow copies are left out: they duplicate traffic already counted, and
    moving them is not the question; so are answers served from the response
    cache (they cost nothing wherever they would be sent).
    """
    records = [r for r in records if not r.shadow_of and r.cache != "hit"]
    paid = [r for r in records if r.cost_usd > 0]
    free_tokens = sum(r.prompt_tokens + r.completion_tokens for r in records if r.cost_usd <= 0)
    if days is None:
        if records:
            first = datetime.fromtimestamp(min(r.ts for r in records), UTC).date()
            last = datetime.fromtimestamp(max(r.ts for r in records), UTC).date()
            days = (last - first).days + 1
        else:
            days = 1
    days = max(1, days)
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in paid)
    cost = sum(r.cost_usd for r in paid)
    per_token = cost / tokens if tokens else 0.0
    per_day = tokens / days
    rows = []
    for t in targets.values():
        unit = amortised_usd_per_token(t)
        if t.cost is None or unit is None:
            continue
        capacity = t.cost.tokens_per_second * 86_400
        gpus = max(1, math.ceil(per_day / capacity)) if tokens else 0
        breakeven = 24 * t.cost.gpu_hour_usd / per_token if per_token > unit else None
        rows.append(
            ShiftRow(
                target=t.name,
                gpu_hour_usd=t.cost.gpu_hour_usd,
                tokens_per_second=t.cost.tokens_per_second,
                capacity_tokens_per_day=capacity,
                amortised_usd=tokens * unit,
                gpus=gpus,
                dedicated_usd=gpus * 24 * t.cost.gpu_hour_usd * days,
                breakeven_tokens_per_day=breakeven,
            )
        )
    return ShiftReport(
        days=days,
        requests=len(paid),
        tokens=tokens,
        cost_usd=cost,
        tokens_per_day=per_day,
        cost_per_day=cost / days,
        usd_per_million_tokens=per_token * 1e6,
        self_hosted_tokens=free_tokens,
        rows=tuple(rows),
    )


def money(x: float) -> str:
    """Dollars as the reports print them: four decimals under $1, two above."""
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.4f}" if abs(x) < 1 else f"{sign}${abs(x):,.2f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table as aligned text lines: header, a rule, the rows (first column left-aligned)."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*r) for r in rows
    ]


def spend_table(dim: str, rows: Sequence[SpendRow]) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of a spend table (with its TOTAL line), as printed."""
    body = [
        [
            r.key,
            str(r.requests),
            f"{r.prompt_tokens:,}",
            f"{r.completion_tokens:,}",
            money(r.cost_usd),
            money(r.amortised_cost_usd),
            str(r.estimated),
        ]
        for r in rows
    ]
    body.append(
        [
            "TOTAL",
            str(sum(r.requests for r in rows)),
            f"{sum(r.prompt_tokens for r in rows):,}",
            f"{sum(r.completion_tokens for r in rows):,}",
            money(sum(r.cost_usd for r in rows)),
            money(sum(r.amortised_cost_usd for r in rows)),
            str(sum(r.estimated for r in rows)),
        ]
    )
    header = [dim, "requests", "input tok", "output tok", "cost", "amortised", "estimated"]
    return header, body


def format_spend(dim: str, rows: Sequence[SpendRow]) -> str:
    """A text table of :func:`spend_by` rows, with a total line."""
    return f"Spend by {dim}\n" + "\n".join(text_table(*spend_table(dim, rows)))


def shift_summary(rep: ShiftReport) -> list[str]:
    """The shift report's lines above its table."""
    lines = [
        f"recorded paid traffic: {rep.requests} requests, {rep.tokens:,} tokens over "
        f"{rep.days} day(s) = {rep.tokens_per_day:,.0f} tokens/day, "
        f"{rep.requests_per_day:,.1f} requests/day",
        f"it cost {money(rep.cost_usd)} ({money(rep.cost_per_day)}/day, "
        f"blended ${rep.usd_per_million_tokens:,.2f} per million tokens, "
        f"{money(rep.usd_per_request)} and {rep.tokens_per_request:,.0f} tokens per request)",
    ]
    if rep.self_hosted_tokens:
        lines.append(f"already self-hosted: {rep.self_hosted_tokens:,} tokens")
    return lines


def breakeven_requests_per_day(rep: ShiftReport, row: ShiftRow) -> float | None:
    """``row``'s break-even volume in requests a day, at the recorded tokens per request."""
    if row.breakeven_tokens_per_day is None or not rep.tokens_per_request:
        return None
    return row.breakeven_tokens_per_day / rep.tokens_per_request


def shift_table(rep: ShiftReport) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the shift report's table, as printed."""
    body = []
    for r in rep.rows:
        be_requests = breakeven_requests_per_day(rep, r)
        if r.breakeven_tokens_per_day is None:
            be = "never (API is cheaper)"
        elif be_requests is None:
            be = f"{r.breakeven_tokens_per_day:,.0f} tok/day"
        else:
            be = f"{r.breakeven_tokens_per_day:,.0f} tok/day ({be_requests:,.0f} req/day)"
        saving = rep.cost_usd - r.dedicated_usd
        body.append(
            [
                r.target,
                f"${r.gpu_hour_usd:,.2f}/h @ {r.tokens_per_second:,.0f} tok/s",
                f"{r.capacity_tokens_per_day:,.0f}",
                money(r.amortised_usd),
                f"{money(r.dedicated_usd)} ({r.gpus} GPU)" if r.gpus else money(0),
                money(saving),
                be,
            ]
        )
    header = [
        "self-hosted target",
        "GPU",
        "tok/day/GPU",
        "amortised",
        "dedicated",
        "saving (dedicated)",
        "break-even volume",
    ]
    return header, body


SHIFT_LEGEND = (
    "amortised = the same tokens at full GPU utilisation; dedicated = GPUs rented "
    "24h/day for the observed volume; break-even = daily volume at which one "
    "dedicated GPU costs what the paid API would."
)


def format_shift(rep: ShiftReport) -> str:
    """The shift report as text."""
    lines = ["Shift report: paid traffic priced on the config's self-hosted targets"]
    lines.extend("  " + x for x in shift_summary(rep))
    if not rep.rows:
        lines.append("  no self-hosted target with cost: {gpu_hour_usd, tokens_per_second}")
        return "\n".join(lines)
    lines.extend("  " + x for x in text_table(*shift_table(rep)))
    lines.append("  " + SHIFT_LEGEND)
    return "\n".join(lines)
