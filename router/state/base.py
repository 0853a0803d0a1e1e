"""The state store interface: small atomic operations that every backend provides.

Breakers, budgets and migration guards are built on these, so the same code
runs on one process (``memory``), several processes on a host (``sqlite``)
and many hosts (``redis``). Every operation is atomic; values are strings or
floats; ``ttl_s`` makes a key expire (a crashed process never holds state
forever).

Budgets need more than one key to change at once (a request is admitted only
if *every* budget that applies has room), so the store also offers budget
operations that are atomic across several budget windows: reserve, commit,
release. Holds carry their own expiry in wall-clock seconds (``now`` is
passed in by the caller, so every process of a deployment and every test
agrees on time).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "OPERATIONS",
    "Acquired",
    "Admitted",
    "BudgetCharge",
    "BudgetUsage",
    "LimitCharge",
    "Reserved",
    "StateStore",
    "limit_buckets",
]

OPERATIONS = (
    "get",
    "get_many",
    "set",
    "set_if_absent",
    "incr",
    "delete",
    "budget_reserve",
    "budget_commit",
    "budget_release",
    "budget_usage",
    "limit_acquire",
    "limit_release",
    "admit",
    "ledger_append",
    "ledger_read",
)
"""Every operation of a state store (sync and async alike): what a store program may
yield, and what a wrapper that counts or forwards operations must cover."""

# Money is compared with a tolerance so that float rounding of many small
# costs never refuses a reservation that fits exactly.
EPSILON_USD = 1e-9


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """One budget window a reservation must fit in.

    ``key`` names the window (rule, key value, window start); ``limit_usd``
    is its budget; ``expires_at`` (epoch seconds) is when the window's state
    may be forgotten (its end plus a grace period for the report).
    """

    key: str
    limit_usd: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """The state of one budget window: committed spend and live holds."""

    spent_usd: float = 0.0
    held_usd: float = 0.0
    holds: int = 0


@dataclass(frozen=True, slots=True)
class Reserved:
    """The outcome of :meth:`StateStore.budget_reserve`.

    ``ok`` is True when the hold was placed on every window; otherwise
    nothing was changed and ``refused`` names the windows without room.
    ``usage`` is each window's state as seen by the operation (before the
    new hold).
    """

    ok: bool
    usage: Mapping[str, BudgetUsage]
    refused: tuple[str, ...] = ()


def fits(usage: BudgetUsage, limit_usd: float, amount_usd: float) -> bool:
    """Whether ``amount_usd`` more fits in a window (a zero amount always does)."""
    if amount_usd <= 0:
        return True
    return usage.spent_usd + usage.held_usd + amount_usd <= limit_usd + EPSILON_USD


LIMIT_BUCKETS = 60
"""A sliding window is counted in this many buckets of ``window_s / 60`` seconds."""


@dataclass(frozen=True, slots=True)
class LimitCharge:
    """One rate or concurrency limit an acquisition must fit in.

    ``window_s > 0``: a sliding window (``rpm``: 60 s, amount 1; ``tpm``:
    60 s, amount = tokens) admitting at most ``limit`` units in any
    ``window_s`` seconds. ``window_s == 0``: a concurrency limit
    (``max_in_flight``) admitting at most ``limit`` live holds; ``amount``
    is ignored (one hold per ticket).
    """

    key: str
    limit: float
    amount: float = 1.0
    window_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Acquired:
    """The outcome of :meth:`StateStore.limit_acquire`.

    ``ok``: every charge was taken. Otherwise nothing was changed,
    ``refused`` names the keys without room and ``retry_after_s`` is when
    all of them could admit the same charges again: ``None`` when unknown
    (a concurrency limit frees up when a call ends), ``inf`` when never
    (an amount larger than its limit).
    """

    ok: bool
    refused: tuple[str, ...] = ()
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """The outcome of :meth:`StateStore.admit`: the budget hold's, then the limits'.

    ``acquired`` is ``None`` when the hold was refused: the limits were then
    not looked at, and nothing was changed.
    """

    reserved: Reserved
    acquired: Acquired | None = None


def limit_buckets(window_s: float, at: float) -> tuple[float, int]:
    """A window's bucket width and the bucket holding time ``at``.

    Units taken at ``at`` count until their bucket's end plus ``window_s``:
    up to one bucket (1/60 of the window) longer than an exact sliding
    window, never shorter, so a limit is never exceeded in any window.
    Every backend buckets time with this same arithmetic.
    """
    width = window_s / LIMIT_BUCKETS
    return width, math.floor(at / width)


def window_wait(
    buckets: Sequence[tuple[int, float]], used: float, charge: LimitCharge, now: float
) -> float:
    """Seconds until ``charge`` fits a window whose live ``buckets`` (ascending) hold
    ``used`` units: when enough of the oldest have aged out."""
    if charge.amount > charge.limit:
        return math.inf
    width = charge.window_s / LIMIT_BUCKETS
    for b, amount in buckets:
        used -= amount
        if used + charge.amount <= charge.limit:
            return max(0.0, (b + 1) * width + charge.window_s - now)
    return 0.0


def combine_waits(waits: Sequence[float | None]) -> float | None:
    """When every refused charge fits again: the latest wait, unknown if any is."""
    if any(w is None for w in waits):
        return None
    return max((w for w in waits if w is not None), default=0.0)


class StateStore(ABC):
    """Atomic key/value primitives with expiry, and budget holds. Thread-safe."""

    # -- key/value ---------------------------------------------------------

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value at ``key``, or ``None`` when absent or expired."""

    @abstractmethod
    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        """Store ``value`` at ``key`` (replacing it), expiring after ``ttl_s``."""

    @abstractmethod
    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; True when this call stored it."""

    @abstractmethod
    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        """Add ``amount`` to the number at ``key`` (0 when absent) and return the sum.

        ``ttl_s`` is applied when the key is created, not on later increments,
        so a window counter expires with its window.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values at ``keys``, in order (one round trip where the backend allows)."""
        return [self.get(k) for k in keys]

    # -- budgets -------------------------------------------------------------

    @abstractmethod
    def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        """Hold ``amount_usd`` on every window of ``charges``, or on none.

        A window admits the hold when its spend plus its live holds plus
        ``amount_usd`` stay within its limit (a zero amount is always
        admitted). Holds expire at ``now + hold_s``; expired holds no longer
        count. All windows are checked and changed in one atomic step.
        """

    @abstractmethod
    def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        """Replace the hold of ``reservation`` on each window by ``amount_usd`` of spend.

        Returns, per key, whether the hold was still live (False: it had
        expired, the spend is recorded all the same). ``record``, when
        given, is appended to the ledger in the same atomic step.
        """

    @abstractmethod
    def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        """Drop the hold of ``reservation`` on each window without spending."""

    @abstractmethod
    def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        """A window's committed spend and live holds (zeros when unknown)."""

    # -- rate and concurrency limits -------------------------------------------

    def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        """Take every charge of ``charges``, or none, in one atomic step.

        A window charge fits when the window's units counted at ``now``
        (see :func:`limit_buckets`) plus its amount stay within its limit;
        it is then counted in the bucket of ``now``. A concurrency charge
        fits when the key's live holds number fewer than its limit; the hold
        of ``ticket`` then lives until ``now + hold_s`` (or
        :meth:`limit_release`).
        """
        raise NotImplementedError(f"{type(self).__name__} has no rate limits")

    def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        """Drop the holds of ``ticket`` on the concurrency ``keys``, and add each
        ``adjust`` charge's amount (negative: give back) to its window's bucket
        of time ``at`` — the correction of an estimate taken at ``at``."""
        raise NotImplementedError(f"{type(self).__name__} has no rate limits")

    # -- both at once: a call's admission ------------------------------------------

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
        """:meth:`budget_reserve`, then — only if the hold was placed —
        :meth:`limit_acquire` of ``limits`` for ``ticket``, as one operation.

        Each part keeps its own all-or-nothing contract; a refused limit
        leaves the budget hold in place (the caller decides what to do with
        it). The backends do both in one atomic step (memory: one lock;
        SQLite: one transaction; Redis: one Lua script, so one round trip);
        this default, for other stores, runs the two operations in turn.
        """
        reserved = self.budget_reserve(reservation, charges, amount_usd, now=now, hold_s=hold_s)
        if not reserved.ok:
            return Admitted(reserved)
        return Admitted(reserved, self.limit_acquire(ticket, limits, now=now, hold_s=limit_hold_s))

    # -- ledger --------------------------------------------------------------

    @abstractmethod
    def ledger_append(self, record: str, *, ts: float) -> None:
        """Append one ledger record (a JSON line) stamped ``ts`` (epoch seconds)."""

    @abstractmethod
    def ledger_read(self, since: float | None = None, until: float | None = None) -> list[str]:
        """Ledger records with ``since <= ts < until``, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files."""
