"""Arm weights at an instant: configured split, ramp schedule, rolled-back arms."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from ..config.schema import RampConfig, RouteConfig
from ..errors import ConfigError

__all__ = ["arm_weights", "iso", "parse_instant", "ramp_pct"]


def ramp_pct(ramp: RampConfig, now: float) -> float:
    """The ramped arm's percentage at ``now`` (epoch seconds): linear between start and end."""
    start, end = ramp.start.timestamp(), ramp.end.timestamp()
    if now <= start:
        return ramp.from_pct
    if now >= end:
        return ramp.to_pct
    return ramp.from_pct + (ramp.to_pct - ramp.from_pct) * (now - start) / (end - start)


def arm_weights(route: RouteConfig, now: float, disabled: Collection[str] = ()) -> dict[str, float]:
    """Each split arm's share in percent at ``now``, in the split's order.

    With a ramp, the ramped arm gets :func:`ramp_pct` and the other arms share
    the rest in proportion to their configured weights (equally when those are
    all zero). Arms in ``disabled`` (rolled back by a guard) get 0; the
    remaining arms are not renormalised here — the picker does that among the
    arms a request may use.
    """
    arms = route.split or ()
    if route.ramp is not None:
        pct = ramp_pct(route.ramp, now)
        others = [a for a in arms if a.model != route.ramp.model]
        total = sum(a.weight for a in others)
        out: dict[str, float] = {}
        for a in arms:
            if a.model == route.ramp.model:
                out[a.model] = pct
            elif total > 0:
                out[a.model] = (100.0 - pct) * a.weight / total
            else:
                out[a.model] = (100.0 - pct) / len(others)
    else:
        total = sum(a.weight for a in arms)
        out = {a.model: (100.0 * a.weight / total if total > 0 else 0.0) for a in arms}
    for name in disabled:
        if name in out:
            out[name] = 0.0
    return out


def iso(now: float) -> str:
    """``now`` as an ISO-8601 UTC timestamp (for notes and reports)."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


def parse_instant(text: str) -> float:
    """An ISO date (midnight UTC) or datetime (naive = UTC) as epoch seconds."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not an ISO date or datetime") from None
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt).timestamp()
