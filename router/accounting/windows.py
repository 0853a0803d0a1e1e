"""Calendar budget windows in UTC: the current minute, hour, day or month."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = ["Per", "window", "window_label"]

Per = Literal["minute", "hour", "day", "month"]


def window(per: Per, now: float) -> tuple[float, float]:
    """The window containing ``now`` (epoch seconds): (start, end), end exclusive."""
    # Every window starts on a whole UTC minute, so all instants of one minute
    # share their windows: compute once per minute, not once per request.
    return _window(per, int(now // 60))


@functools.lru_cache(maxsize=64)
def _window(per: Per, minute: int) -> tuple[float, float]:
    t = datetime.fromtimestamp(minute * 60, UTC)
    if per == "minute":
        start = t.replace(second=0, microsecond=0)
        end = start + timedelta(minutes=1)
    elif per == "hour":
        start = t.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
    elif per == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    elif per == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    else:
        raise ValueError(f"unknown budget window {per!r}")
    return start.timestamp(), end.timestamp()


_LABEL = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}


@functools.lru_cache(maxsize=64)
def window_label(per: Per, start: float) -> str:
    """A readable, sortable name for the window starting at ``start``: ``2026-11-29``."""
    return datetime.fromtimestamp(start, UTC).strftime(_LABEL[per])
