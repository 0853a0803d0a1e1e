"""The async state store interface: :class:`~router.state.StateStore` as coroutines.

Same operations, same names, same contracts as the sync interface (see
``router/state/base.py``), so an ``AsyncRouter`` keeps the exact semantics
of a ``Router`` without ever blocking its event loop. Backends never do I/O
on the loop: memory does none, SQLite runs on a worker thread of its own,
Redis multiplexes every command over one connection (:mod:`.resp_client`).

Closing is ``await store.aclose()`` (or ``async with store:``): idempotent,
safe to call from several tasks at once, and once it returns the store's
threads and connections are gone. Any operation begun after ``aclose()``
raises :class:`RuntimeError`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from ..base import Acquired, Admitted, BudgetCharge, BudgetUsage, LimitCharge, Reserved

__all__ = ["AsyncStateStore"]


class AsyncStateStore(ABC):
    """Atomic key/value primitives with expiry, and budget holds, as coroutines.

    Every operation is atomic, exactly as on :class:`~router.state.StateStore`;
    many tasks of one loop may call a store concurrently. A store belongs to
    the event loop that first uses it.
    """

    # Set (once) by the first aclose(); later calls await the same closing.
    _closing: asyncio.Future[None] | None = None

    # -- key/value ---------------------------------------------------------

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The value at ``key``, or ``None`` when absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        """Store ``value`` at ``key`` (replacing it), expiring after ``ttl_s``."""

    @abstractmethod
    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; True when this call stored it."""

    @abstractmethod
    async def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        """Add ``amount`` to the number at ``key`` (0 when absent) and return the sum.

        ``ttl_s`` is applied when the key is created, not on later increments,
        so a window counter expires with its window. Raises :class:`ValueError`
        when the value at ``key`` is not a number.
        """

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values at ``keys``, in order (one round trip where the backend allows)."""
        return [await self.get(k) for k in keys]

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    # -- budgets -------------------------------------------------------------

    @abstractmethod
    async def budget_reserve(
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

        A call cancelled after it reached the backend may still have placed
        its hold: release the reservation (or let it expire) on cancellation.
        """

    @abstractmethod
    async def budget_commit(
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
    async def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        """Drop the hold of ``reservation`` on each window without spending."""

    @abstractmethod
    async def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        """A window's committed spend and live holds (zeros when unknown)."""

    # -- rate and concurrency limits -------------------------------------------

    async def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        """Take every charge of ``charges``, or none, in one atomic step (see
        :meth:`router.state.StateStore.limit_acquire`)."""
        raise NotImplementedError(f"{type(self).__name__} has no rate limits")

    async def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        """Drop ``ticket``'s concurrency holds on ``keys`` and apply the window
        corrections ``adjust`` at time ``at`` (see
        :meth:`router.state.StateStore.limit_release`)."""
        raise NotImplementedError(f"{type(self).__name__} has no rate limits")

    # -- both at once: a call's admission ------------------------------------------

    async def admit(
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
        """The budget hold, then — only if it was placed — the limits of ``ticket``, as
        one operation (see :meth:`router.state.StateStore.admit`). The backends do
        both in one atomic step; this default, for other stores, awaits the two
        operations in turn."""
        reserved = await self.budget_reserve(
            reservation, charges, amount_usd, now=now, hold_s=hold_s
        )
        if not reserved.ok:
            return Admitted(reserved)
        acquired = await self.limit_acquire(ticket, limits, now=now, hold_s=limit_hold_s)
        return Admitted(reserved, acquired)

    # -- ledger --------------------------------------------------------------

    @abstractmethod
    async def ledger_append(self, record: str, *, ts: float) -> None:
        """Append one ledger record (a JSON line) stamped ``ts`` (epoch seconds)."""

    @abstractmethod
    async def ledger_read(
        self, since: float | None = None, until: float | None = None
    ) -> list[str]:
        """Ledger records with ``since <= ts < until``, oldest first."""

    # -- lifetime --------------------------------------------------------------

    async def aclose(self) -> None:
        """Release threads and connections; idempotent and safe to call concurrently.

        Returns once everything is released (a cancelled caller does not
        interrupt the closing). Operations begun afterwards raise
        :class:`RuntimeError`.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._release())
        await asyncio.shield(self._closing)

    async def _release(self) -> None:  # noqa: B027 - optional hook
        """What :meth:`aclose` releases (called once)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closing is not None

    def _check_open(self) -> None:
        if self._closing is not None:
            raise RuntimeError(f"{self!r} is closed")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
