"""Observed health per target: a latency average kept in the state store.

The policy's ``select: fastest`` ranks by these numbers (through
:class:`~router.policy.Snapshot`), and open breakers mark targets
unavailable. Only successful tries are timed; for a stream the time counted
is the time to its first content.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping

from ..state.base import StateStore
from ..state.program import Program, op, run
from .breaker import Breakers, BreakerState

__all__ = ["Health"]

_ALPHA = 0.3
"""Weight of the newest sample in the moving average."""
_TTL_S = 3600.0
"""An hour without traffic forgets a target's latency rather than trusting old news."""
_CACHE_S = 1.0
_NONE: frozenset[str] = frozenset()
"""How long one read of the averages serves the snapshots of later requests."""


class Health:
    """Latency EWMA per target and breaker-derived availability.

    As with :class:`Breakers`, the ``*_steps`` methods are store programs
    (:mod:`router.state.program`) and the plain ones run them on ``store``.
    """

    def __init__(self, store: StateStore | None, breakers: Breakers) -> None:
        self.store = store
        self._breakers = breakers
        self._cache: tuple[tuple[str, ...], float, Mapping[str, float]] | None = None

    @staticmethod
    def _key(target: str) -> str:
        return f"lat:{target}"

    def observe_steps(self, target: str, latency_s: float) -> Program[None]:
        """Fold one successful try's latency into the average.

        Read-then-write is not atomic across processes; a lost update only
        makes the average a little older, which ranking tolerates. So the
        average this process read less than a second ago (for a snapshot)
        stands in for a fresh read: one store write per success, not two.
        """
        ms = latency_s * 1000.0
        cached = self._cache
        if cached is not None and target in cached[2] and time.monotonic() - cached[1] < _CACHE_S:
            old: float | None = cached[2][target]
        else:
            raw = yield op("get", self._key(target))
            old = None if raw is None else float(raw)
        value = ms if old is None else _ALPHA * ms + (1 - _ALPHA) * old
        yield op("set", self._key(target), repr(value), ttl_s=_TTL_S)
        cached = self._cache
        if cached is not None and target in cached[0]:
            # This process's own news is never stale; other processes' arrive
            # with the next read of the store.
            self._cache = (cached[0], cached[1], {**cached[2], target: value})

    def latency_steps(self, targets: Iterable[str]) -> Program[Mapping[str, float]]:
        """The average latency of each target that has one.

        Read from the store at most once a second: every request takes a
        snapshot, and on Redis each read is a round trip per target.
        """
        names = tuple(targets)
        now = time.monotonic()
        cached = self._cache
        if cached is not None and cached[0] == names and now - cached[1] < _CACHE_S:
            return cached[2]
        values = (yield op("get_many", [self._key(t) for t in names])) if names else []
        out = {t: float(v) for t, v in zip(names, values, strict=True) if v is not None}
        self._cache = (names, now, out)
        return out

    def unavailable_steps(self, targets: Collection[str]) -> Program[frozenset[str]]:
        """Targets whose breaker is open right now."""
        if not targets:  # no target has a breaker: the common case
            return _NONE
        states = yield from self._breakers.states_steps(list(targets))
        return frozenset(t for t, s in states.items() if s is BreakerState.OPEN)

    def observe(self, target: str, latency_s: float) -> None:
        """:meth:`observe_steps`, run on :attr:`store`."""
        run(self.observe_steps(target, latency_s), self.store)

    def latency_ms(self, targets: Iterable[str]) -> Mapping[str, float]:
        """:meth:`latency_steps`, run on :attr:`store`."""
        return run(self.latency_steps(targets), self.store)

    def unavailable(self, targets: Collection[str]) -> frozenset[str]:
        """:meth:`unavailable_steps`, run on :attr:`store`."""
        return run(self.unavailable_steps(targets), self.store)
