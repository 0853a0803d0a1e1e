"""Break-even curves: cost per day against requests per day, paid API vs self-hosted.

Every number comes from the shift report (:mod:`router.accounting.report`):
the paid API's recorded cost per request, and for a self-hosted target with
``cost: {gpu_hour_usd, tokens_per_second}`` its amortised cost (the same
tokens at full GPU utilisation) and its dedicated cost (whole GPUs rented
around the clock, one more each time the volume outgrows their capacity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..accounting.report import ShiftReport, ShiftRow, breakeven_requests_per_day

__all__ = ["Curves", "curves"]

_MAX_POINTS = 400


@dataclass(frozen=True, slots=True)
class Curves:
    """Cost/day lines over requests/day for one self-hosted target."""

    x_max: float
    api: list[tuple[float, float]]
    amortised: list[tuple[float, float]]
    dedicated: list[tuple[float, float]]
    today: float
    breakeven: float | None


def curves(rep: ShiftReport, row: ShiftRow) -> Curves:
    """The three lines, up to a volume that shows today's and the break-even's."""
    today = rep.requests_per_day
    be = breakeven_requests_per_day(rep, row)
    x_max = max(today, be or 0.0) * 1.6 or 1.0
    per_api = rep.usd_per_request
    per_amortised = row.amortised_usd / rep.requests if rep.requests else 0.0
    gpu_day = 24 * row.gpu_hour_usd
    # Requests one GPU serves a day at the recorded tokens per request.
    capacity = (
        row.capacity_tokens_per_day / rep.tokens_per_request if rep.tokens_per_request else math.inf
    )
    dedicated: list[tuple[float, float]] = [(0.0, gpu_day)]
    if math.isfinite(capacity) and x_max / capacity <= _MAX_POINTS:
        gpus = 1
        while gpus * capacity < x_max:
            edge = gpus * capacity
            dedicated += [(edge, gpus * gpu_day), (edge, (gpus + 1) * gpu_day)]
            gpus += 1
        dedicated.append((x_max, gpus * gpu_day))
    else:  # too many steps to draw one by one: sample the staircase
        for i in range(1, _MAX_POINTS + 1):
            x = x_max * i / _MAX_POINTS
            dedicated.append((x, max(1, math.ceil(x / capacity)) * gpu_day))
    return Curves(
        x_max=x_max,
        api=[(0.0, 0.0), (x_max, per_api * x_max)],
        amortised=[(0.0, 0.0), (x_max, per_amortised * x_max)],
        dedicated=dedicated,
        today=today,
        breakeven=be,
    )
