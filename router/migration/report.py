"""Migration evidence as tables: each arm's share of a route's traffic per day against
the schedule, the guard's windows and its trips and resumes.

The numbers come from the ledger (through the spend report's
:class:`~router.accounting.report.SpendCube`) and the store; both
``llm-router migration report`` and its ``--html`` page print the cells
built here, so they show the same numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..accounting.report import SpendCube
from ..config.schema import RouteConfig
from ..state.base import StateStore
from .compare import read_pairs
from .guard import GuardEvent, GuardStatus, window_cells
from .ramp import arm_weights, iso
from .stats import Window, read_day

__all__ = [
    "ArmShares",
    "Histogram",
    "RouteEvidence",
    "ShadowDistributions",
    "arm_shares",
    "events_table",
    "guard_days",
    "guard_days_table",
    "shadow_distributions",
    "shares_table",
    "window_table",
]


@dataclass(frozen=True, slots=True)
class ArmShares:
    """Requests a route's targets served per UTC day, and the split's schedule."""

    route: str
    arms: tuple[str, ...]
    """The split's arms in its order, then any other target that served the route."""
    days: tuple[str, ...]
    """Every day from the first record to the last (days without records included)."""
    first_day: float
    """``days[0]`` at 00:00 UTC, epoch seconds."""
    requests: dict[str, tuple[int, ...]]
    scheduled: dict[str, tuple[float, ...]]
    """Each split arm's configured share (split and ramp) at 12:00 UTC, in percent."""

    def total(self, i: int) -> int:
        """Requests on day ``i``."""
        return sum(r[i] for r in self.requests.values())

    def share(self, arm: str, i: int) -> float | None:
        """The arm's percentage of day ``i``'s requests (None without requests)."""
        n = self.total(i)
        return 100.0 * self.requests[arm][i] / n if n else None


def arm_shares(cube: SpendCube, name: str, route: RouteConfig) -> ArmShares:
    """Per-day requests of ``route`` (primary traffic only) by the target that answered."""
    cells = cube.pivot("day", "model", where={"route": name, "traffic": "primary"})
    split = [a.model for a in route.split or ()]
    others = sorted({m for _, m in cells} - set(split))
    arms = (*split, *others)
    seen = sorted({d for d, _ in cells})
    days: list[str] = []
    if seen:
        day = datetime.strptime(seen[0], "%Y-%m-%d").replace(tzinfo=UTC)
        last = datetime.strptime(seen[-1], "%Y-%m-%d").replace(tzinfo=UTC)
        while day <= last:
            days.append(day.strftime("%Y-%m-%d"))
            day += timedelta(days=1)
    first = datetime.strptime(days[0], "%Y-%m-%d").replace(tzinfo=UTC).timestamp() if days else 0.0
    requests = {
        a: tuple(cells[(d, a)].requests if (d, a) in cells else 0 for d in days) for a in arms
    }
    noons = [first + 86_400 * i + 43_200 for i in range(len(days))]
    weights = [arm_weights(route, t) for t in noons]
    scheduled = {a: tuple(w.get(a, 0.0) for w in weights) for a in split}
    return ArmShares(name, arms, tuple(days), first, requests, scheduled)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def shares_table(a: ArmShares) -> tuple[list[str], list[list[str]]]:
    """Per day: requests, then each arm's served and scheduled share."""
    header = ["day", "requests"]
    for arm in a.arms:
        header.append(f"{arm} served")
        if arm in a.scheduled:
            header.append(f"{arm} scheduled")
    rows = []
    for i, day in enumerate(a.days):
        row = [day, str(a.total(i))]
        for arm in a.arms:
            row.append(_pct(a.share(arm, i)))
            if arm in a.scheduled:
                row.append(_pct(a.scheduled[arm][i]))
        rows.append(row)
    return header, rows


def window_table(status: GuardStatus) -> tuple[list[str], list[list[str]]]:
    """The guarded arm's and the baseline's current window."""
    g = status.guard
    header = ["arm", "calls", "errors", "error rate", "p95"]
    return header, [window_cells(g.model, status.arm), window_cells(g.baseline, status.baseline)]


def guard_days(
    store: StateStore, route: str, arms: Sequence[str], days: Sequence[str]
) -> dict[str, tuple[Window, ...]]:
    """Each guarded arm's (and the baseline's) attempts, errors and p95 per UTC day."""
    numbers = [
        int(datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() // 86_400)
        for d in days
    ]
    return {a: tuple(read_day(store, route, a, n) for n in numbers) for a in arms}


def guard_days_table(
    days: Sequence[str], windows: dict[str, tuple[Window, ...]]
) -> tuple[list[str], list[list[str]]]:
    """Per day and arm: attempts, errors, error rate, p95 (as the guard counted them)."""
    header = ["day"]
    for arm in windows:
        header += [f"{arm} calls", f"{arm} errors", f"{arm} error rate", f"{arm} p95"]
    rows = []
    for i, day in enumerate(days):
        row = [day]
        for w in windows.values():
            row += window_cells("", w[i])[1:]
        rows.append(row)
    return header, rows


def events_table(events: Sequence[GuardEvent]) -> tuple[list[str], list[list[str]]]:
    """Trips and resumes, oldest first."""
    return ["time (UTC)", "event", "arm", "reason"], [
        [iso(e.at), e.kind, e.model, e.reason] for e in events
    ]


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of primary and shadow values in fixed bins (labels name the bins)."""

    labels: tuple[str, ...]
    primary: tuple[int, ...]
    shadow: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ShadowDistributions:
    """A route's compared pairs from its shadow log, binned in one pass."""

    pairs: int
    latency_ms: Histogram
    cost_usd: Histogram
    similarity: tuple[tuple[str, ...], tuple[int, ...]]


# Fixed bins, so one pass over a log of any size fills them in constant memory.
_LATENCY_EDGES = tuple(2.0**k for k in range(0, 18))  # 1 ms … 131 s, doubling
_COST_EDGES = tuple(10.0 ** (k / 2) for k in range(-16, 1))  # $1e-8 … $1, half decades
_SIM_BINS = 10


def _bin(edges: Sequence[float], v: float) -> int:
    for i, e in enumerate(edges):
        if v < e:
            return i
    return len(edges)


def _labels(edges: Sequence[float], fmt: str, *, zero: bool = False) -> list[str]:
    out = [f"< {format(edges[0], fmt)}" + (" (or 0)" if zero else "")]
    out += [f"{format(a, fmt)}-{format(b, fmt)}" for a, b in itertools.pairwise(edges)]
    return [*out, f">= {format(edges[-1], fmt)}"]


def _trim(labels: list[str], a: list[int], b: list[int]) -> Histogram:
    used = [i for i in range(len(labels)) if a[i] or b[i]]
    lo, hi = (used[0], used[-1] + 1) if used else (0, 0)
    return Histogram(tuple(labels[lo:hi]), tuple(a[lo:hi]), tuple(b[lo:hi]))


def shadow_distributions(path: str, route: str) -> ShadowDistributions:
    """Latency, cost and similarity distributions of ``route``'s pairs in a shadow log."""
    n = len(_LATENCY_EDGES) + 1
    lat = ([0] * n, [0] * n)
    m = len(_COST_EDGES) + 1
    cost = ([0] * m, [0] * m)
    sim = [0] * _SIM_BINS
    pairs = 0
    for r in read_pairs(path, route):
        if r is None:
            continue
        pairs += 1
        for k, side in enumerate((r["primary"], r["shadow"])):
            lat[k][_bin(_LATENCY_EDGES, float(side["latency_s"]) * 1000)] += 1
            c = float(side["cost_usd"])
            # Zero cost (a self-hosted shadow) counts in the lowest bin.
            cost[k][_bin(_COST_EDGES, c) if c > 0 else 0] += 1
        s = float(r["similarity"])
        sim[min(_SIM_BINS - 1, max(0, math.floor(s * _SIM_BINS)))] += 1
    sim_labels = tuple(f"{i / _SIM_BINS:.1f}-{(i + 1) / _SIM_BINS:.1f}" for i in range(_SIM_BINS))
    return ShadowDistributions(
        pairs,
        _trim(_labels(_LATENCY_EDGES, "g"), *lat),
        _trim(_labels(_COST_EDGES, ".0e", zero=True), *cost),
        (sim_labels, tuple(sim)),
    )


@dataclass
class RouteEvidence:
    """Everything the migration report shows for one route."""

    name: str
    route: RouteConfig
    shares: ArmShares | None = None
    guard: GuardStatus | None = None
    events: list[GuardEvent] = field(default_factory=list)
    guard_days: dict[str, tuple[Window, ...]] = field(default_factory=dict)
    """The guarded arm's and the baseline's windows per day of ``shares.days``."""
    shadow: dict[str, Any] = field(default_factory=dict)
    """``store`` and (with ``log:``) ``log`` summaries, as :mod:`.compare` computes them."""
    distributions: ShadowDistributions | None = None
