"""The in-process state store (the default): dicts behind one lock."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .base import (
    LIMIT_BUCKETS,
    Acquired,
    Admitted,
    BudgetCharge,
    BudgetUsage,
    LimitCharge,
    Reserved,
    StateStore,
    combine_waits,
    fits,
    window_wait,
)

__all__ = ["MemoryStore"]

# The in-memory ledger is bounded so a long-running process cannot grow
# without limit; use sqlite or redis to keep every record.
LEDGER_MAX = 100_000


_INF = float("inf")


@dataclass(slots=True, eq=False)
class _Window:
    """One budget window: spend, and the holds of calls in flight.

    The held total and the earliest expiry are kept up to date, so that a
    reservation costs the same with one call in flight or hundreds.
    """

    spent: float = 0.0
    expires_at: float = _INF
    holds: dict[str, tuple[float, float]] = field(default_factory=dict)
    held: float = 0.0
    next_expiry: float = _INF

    def purge(self, now: float) -> None:
        if now < self.next_expiry:
            return
        holds = self.holds
        for rid in [rid for rid, (_, exp) in holds.items() if exp <= now]:
            del holds[rid]
        # Recomputed, not decremented: no float drift survives a purge.
        self.held = sum(a for a, _ in holds.values())
        self.next_expiry = min((exp for _, exp in holds.values()), default=_INF)

    def hold(self, reservation: str, amount: float, expires_at: float) -> None:
        old = self.holds.get(reservation)
        if old is not None:
            self.held -= old[0]
        self.holds[reservation] = (amount, expires_at)
        self.held += amount
        if expires_at < self.next_expiry:
            self.next_expiry = expires_at

    def release(self, reservation: str) -> bool:
        item = self.holds.pop(reservation, None)
        if item is None:
            return False
        self.held = self.held - item[0] if self.holds else 0.0
        return True

    def usage(self) -> BudgetUsage:
        return BudgetUsage(self.spent, max(0.0, self.held), len(self.holds))


@dataclass(slots=True, eq=False)
class _Limit:
    """One limit's state: bucketed window units, or concurrency holds."""

    window_s: float = 0.0
    buckets: dict[int, float] = field(default_factory=dict)
    used: float = 0.0
    oldest: int = 0
    holds: dict[str, float] = field(default_factory=dict)
    next_expiry: float = _INF

    def window(self, cutoff: int) -> float:
        """Units counted from bucket ``cutoff`` on (older buckets are dropped)."""
        if self.buckets and self.oldest < cutoff:
            buckets = self.buckets
            for b in [b for b in buckets if b < cutoff]:
                del buckets[b]
            # Recomputed, not decremented: no float drift survives a purge.
            self.used = sum(buckets.values())
            self.oldest = min(buckets, default=cutoff)
        return self.used

    def add(self, bucket: int, amount: float) -> None:
        if not self.buckets or bucket < self.oldest:
            self.oldest = bucket
        self.buckets[bucket] = self.buckets.get(bucket, 0.0) + amount
        self.used += amount

    def idle(self, now: float) -> bool:
        """Whether nothing is counted at ``now``: no bucket within the window, no live hold."""
        if self.buckets:
            width = self.window_s / LIMIT_BUCKETS
            if width <= 0 or max(self.buckets) >= math.floor((now - self.window_s) / width):
                return False
        return self.live(now) == 0

    def live(self, now: float) -> int:
        """Live holds at ``now`` (expired ones are dropped)."""
        if now >= self.next_expiry:
            holds = self.holds
            for t in [t for t, exp in holds.items() if exp <= now]:
                del holds[t]
            self.next_expiry = min(holds.values(), default=_INF)
        return len(self.holds)


_GRANTED = Acquired(True)

PRUNE_EVERY = 1024
"""Limit acquisitions between two prunes of idle limits (more when there are more keys)."""


def _spans(charges: Sequence[LimitCharge], now: float) -> dict[float, tuple[int, int]]:
    """Per window length: the oldest bucket still counted at ``now``, and ``now``'s
    bucket (see :func:`~router.state.base.limit_buckets`)."""
    spans: dict[float, tuple[int, int]] = {}
    for c in charges:
        w = c.window_s
        if w > 0 and w not in spans:
            width = w / LIMIT_BUCKETS
            spans[w] = (math.floor((now - w) / width), math.floor(now / width))
    return spans


class MemoryStore(StateStore):
    """State shared by the routers of one process; lost when it exits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float | None]] = {}
        self._windows: dict[str, _Window] = {}
        self._ledger: deque[tuple[float, str]] = deque(maxlen=LEDGER_MAX)
        self._limits: dict[str, _Limit] = {}
        self._ops = 0
        """Limit acquisitions since the last prune."""
        self._prune_after = PRUNE_EVERY
        self._lock = threading.Lock()

    def _live(self, key: str) -> tuple[str, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    def _expiry(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._clock() + ttl_s

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._live(key)
            return None if item is None else item[0]

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        with self._lock:
            items = [self._live(k) for k in keys]
        return [None if item is None else item[0] for item in items]

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        with self._lock:
            self._data[key] = (value, self._expiry(ttl_s))

    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._expiry(ttl_s))
            return True

    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        with self._lock:
            item = self._live(key)
            if item is None:
                total, expiry = amount, self._expiry(ttl_s)
            else:
                total, expiry = float(item[0]) + amount, item[1]
            self._data[key] = (repr(total), expiry)
            return total

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    # -- budgets ---------------------------------------------------------------

    def _window(self, key: str, now: float) -> _Window | None:
        w = self._windows.get(key)
        if w is not None and w.expires_at <= now:
            del self._windows[key]
            return None
        if w is not None:
            w.purge(now)
        return w

    def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        with self._lock:
            return self._reserve(reservation, charges, amount_usd, now, hold_s)

    def _reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        now: float,
        hold_s: float,
    ) -> Reserved:
        """:meth:`budget_reserve`, the lock held."""
        usage: dict[str, BudgetUsage] = {}
        refused: list[str] = []
        for c in charges:
            w = self._window(c.key, now)
            usage[c.key] = u = w.usage() if w is not None else BudgetUsage()
            if not fits(u, c.limit_usd, amount_usd):
                refused.append(c.key)
        if refused:
            return Reserved(False, usage, tuple(refused))
        for c in charges:
            w = self._windows.get(c.key)
            if w is None:
                w = self._windows[c.key] = _Window(expires_at=c.expires_at)
            elif c.expires_at > w.expires_at:
                w.expires_at = c.expires_at
            w.hold(reservation, amount_usd, now + hold_s)
        return Reserved(True, usage)

    def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        with self._lock:
            found: list[bool] = []
            for key in keys:
                w = self._window(key, now)
                if w is None:
                    # The window itself was forgotten: keep the spend for its
                    # remaining life, which we no longer know; a day is ample.
                    w = self._windows[key] = _Window(expires_at=now + 86_400)
                found.append(w.release(reservation))
                w.spent += amount_usd
            if record is not None:
                self._ledger.append((now, record))
            return tuple(found)

    def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                w = self._windows.get(key)
                if w is not None:
                    w.release(reservation)

    def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        with self._lock:
            w = self._window(key, now)
            return w.usage() if w is not None else BudgetUsage()

    # -- rate and concurrency limits ---------------------------------------------

    def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        spans = _spans(charges, now)  # outside the lock: pure arithmetic
        with self._lock:
            return self._acquire(ticket, charges, spans, now, hold_s)

    def admit(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        ticket: str,
        limits: Sequence[LimitCharge],
        *,
        now: float,
        hold_s: float,
        limit_hold_s: float,
    ) -> Admitted:
        spans = _spans(limits, now)
        with self._lock:
            reserved = self._reserve(reservation, charges, amount_usd, now, hold_s)
            if not reserved.ok:
                return Admitted(reserved)
            return Admitted(reserved, self._acquire(ticket, limits, spans, now, limit_hold_s))

    def _acquire(
        self,
        ticket: str,
        charges: Sequence[LimitCharge],
        spans: dict[float, tuple[int, int]],
        now: float,
        hold_s: float,
    ) -> Acquired:
        """:meth:`limit_acquire`, the lock held; ``spans``: :func:`_spans` of ``charges``."""
        limits = self._limits
        self._ops += 1
        if self._ops >= self._prune_after:
            self._prune(now)
        found: list[_Limit] = []
        refused: list[str] | None = None
        for c in charges:
            lim = limits.get(c.key)
            if lim is None:
                lim = limits[c.key] = _Limit(window_s=c.window_s)
            found.append(lim)
            if c.window_s > 0:
                cutoff = spans[c.window_s][0]
                used = lim.window(cutoff) if lim.oldest < cutoff else lim.used
                if used + c.amount > c.limit:
                    refused = [] if refused is None else refused
                    refused.append(c.key)
            elif ticket not in lim.holds and (
                (lim.live(now) if now >= lim.next_expiry else len(lim.holds)) >= c.limit
            ):
                refused = [] if refused is None else refused
                refused.append(c.key)
        if refused is not None:
            return self._refusal(charges, found, refused, now)
        until = now + hold_s
        for c, lim in zip(charges, found, strict=True):
            if c.window_s > 0:
                bucket, buckets = spans[c.window_s][1], lim.buckets
                if not buckets or bucket < lim.oldest:
                    lim.oldest = bucket
                buckets[bucket] = buckets.get(bucket, 0.0) + c.amount
                lim.used += c.amount
            else:
                lim.holds[ticket] = until
                if until < lim.next_expiry:
                    lim.next_expiry = until
        return _GRANTED

    def _prune(self, now: float) -> None:
        """Forget the limits with nothing left to count: every window bucket aged out,
        no live hold. Run every so many acquisitions (at least as many as there are
        keys), so a process meeting ever new keys (tenants, say) stays bounded at an
        amortised constant cost per acquisition."""
        limits = self._limits
        for key in [k for k, lim in limits.items() if lim.idle(now)]:
            del limits[key]
        self._ops = 0
        self._prune_after = max(PRUNE_EVERY, len(limits))

    @staticmethod
    def _refusal(
        charges: Sequence[LimitCharge], found: list[_Limit], refused: list[str], now: float
    ) -> Acquired:
        waits: list[float | None] = []
        for c, lim in zip(charges, found, strict=True):
            if c.key not in refused:
                continue
            if c.window_s > 0:
                waits.append(window_wait(sorted(lim.buckets.items()), lim.used, c, now))
            else:
                waits.append(None)
        return Acquired(False, tuple(refused), combine_waits(waits))

    def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        with self._lock:
            limits = self._limits
            for key in keys:
                lim = limits.get(key)
                if lim is not None:
                    lim.holds.pop(ticket, None)
            for c in adjust:
                if c.window_s > 0 and c.amount:
                    lim = limits.get(c.key)
                    if lim is None:
                        lim = limits[c.key] = _Limit(window_s=c.window_s)
                    lim.add(math.floor(at / (c.window_s / LIMIT_BUCKETS)), c.amount)

    # -- ledger ------------------------------------------------------------------

    def ledger_append(self, record: str, *, ts: float) -> None:
        with self._lock:
            self._ledger.append((ts, record))

    def ledger_read(self, since: float | None = None, until: float | None = None) -> list[str]:
        with self._lock:
            return [
                r
                for ts, r in self._ledger
                if (since is None or ts >= since) and (until is None or ts < until)
            ]
