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

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["BudgetCharge", "BudgetUsage", "Reserved", "StateStore"]

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

    # -- ledger --------------------------------------------------------------

    @abstractmethod
    def ledger_append(self, record: str, *, ts: float) -> None:
        """Append one ledger record (a JSON line) stamped ``ts`` (epoch seconds)."""

    @abstractmethod
    def ledger_read(self, since: float | None = None, until: float | None = None) -> list[str]:
        """Ledger records with ``since <= ts < until``, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files."""
