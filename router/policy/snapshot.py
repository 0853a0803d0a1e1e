"""The state snapshot: everything time- or history-dependent the policy may read.

The engine reads no clock and no store; the facade takes one snapshot per
request, so tests control time and history by building snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Time, identity and observed state at the moment of the decision."""

    now: float = 0.0
    """Seconds since the epoch (UTC)."""
    request_id: str = ""
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    """Observed latency per target name (for ``select: fastest``)."""
    unavailable: frozenset[str] = frozenset()
    """Targets known to be down (open breakers); ranked last, not excluded."""
    rate_limited: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    """Targets known to be at a rate limit: the tokens each still has room for (0: not
    even a request) and why, until when (provider headers, a 429's ``retry-after``, a
    full ``rpm`` window). One the request does not fit is left out of the plan while
    another admitted target remains."""
