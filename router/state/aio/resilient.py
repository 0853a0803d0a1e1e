"""The async :class:`~router.state.resilient.ResilientStore`: same policy, awaited.

Every decision (which store an operation goes to, when to try the inner
store again, what is logged, the :class:`~router.errors.StateUnavailable`
raised for money) is the shared :class:`~router.state.resilient.Failover`'s;
this module only awaits. The fallback is an :class:`AsyncMemoryStore` (no
I/O, nothing to close).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..base import Acquired, Admitted, BudgetCharge, BudgetUsage, LimitCharge, Reserved
from ..resilient import DEFAULT_RETRY_S, ErrorTypes, Failover
from .base import AsyncStateStore
from .memory import AsyncMemoryStore

__all__ = ["AsyncResilientStore"]

T = TypeVar("T")


class AsyncResilientStore(AsyncStateStore):
    """``inner`` (a shared async store) with the failure policy of :class:`Failover`.

    Key/value operations fall back to process memory while ``inner`` is
    unreachable; budget and ledger operations raise
    :class:`~router.errors.StateUnavailable`; ``inner`` is tried again at
    most every ``retry_s`` seconds. ``aclose()`` closes ``inner``.
    """

    def __init__(
        self,
        inner: AsyncStateStore,
        *,
        name: str | None = None,
        retry_s: float = DEFAULT_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        errors: tuple[ErrorTypes, ErrorTypes] | None = None,
    ) -> None:
        self.inner = inner
        """The wrapped store."""
        self.failover: Failover[AsyncMemoryStore] = Failover(
            name if name is not None else repr(inner),
            AsyncMemoryStore,
            retry_s=retry_s,
            clock=clock,
            errors=errors,
        )

    def __repr__(self) -> str:
        return f"AsyncResilientStore({self.inner!r})"

    @property
    def degraded(self) -> bool:
        """Whether the inner store is considered unreachable right now."""
        return self.failover.degraded

    async def _kv(self, op: Callable[[AsyncStateStore], Awaitable[T]]) -> T:
        self._check_open()
        f = self.failover
        ticket = f.begin()
        if ticket is not None:
            try:
                out = await op(self.inner)
            except f.errors as e:
                if not f.failed(ticket, e):
                    raise
            else:
                f.succeeded(ticket)
                return out
        return await op(f.fallback())

    async def _money(self, operation: str, op: Callable[[AsyncStateStore], Awaitable[T]]) -> T:
        self._check_open()
        f = self.failover
        ticket = f.begin()
        if ticket is None:
            raise f.refusal(operation)
        try:
            out = await op(self.inner)
        except f.errors as e:
            if not f.failed(ticket, e):
                raise
            raise f.refusal(operation, e) from e
        f.succeeded(ticket)
        return out

    # -- key/value: process memory while the store is down ---------------------

    async def get(self, key: str) -> str | None:
        return await self._kv(lambda s: s.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return await self._kv(lambda s: s.get_many(keys))

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        await self._kv(lambda s: s.set(key, value, ttl_s))

    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return await self._kv(lambda s: s.set_if_absent(key, value, ttl_s))

    async def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        return await self._kv(lambda s: s.incr(key, amount, ttl_s))

    async def delete(self, key: str) -> None:
        await self._kv(lambda s: s.delete(key))

    # -- limits: per-process limits while the store is down ----------------------
    # Counted in the same fallback store as breakers: each process enforces
    # every limit on its own until the shared store answers again (a deployment
    # of N processes may then admit up to N times a limit; one warning per outage).

    async def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        return await self._kv(lambda s: s.limit_acquire(ticket, charges, now=now, hold_s=hold_s))

    async def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        await self._kv(lambda s: s.limit_release(ticket, keys, adjust, at=at))

    # -- budgets and ledger: StateUnavailable while the store is down --------------

    async def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        return await self._money(
            "budget_reserve",
            lambda s: s.budget_reserve(reservation, charges, amount_usd, now=now, hold_s=hold_s),
        )

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
        # Money first: while the store is down the call is refused, as by budget_reserve
        # (its limits are never counted in process memory with a budget unenforced).
        return await self._money(
            "admit",
            lambda s: s.admit(
                reservation,
                charges,
                amount_usd,
                ticket,
                limits,
                now=now,
                hold_s=hold_s,
                limit_hold_s=limit_hold_s,
            ),
        )

    async def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        return await self._money(
            "budget_commit",
            lambda s: s.budget_commit(reservation, keys, amount_usd, now=now, record=record),
        )

    async def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        await self._money("budget_release", lambda s: s.budget_release(reservation, keys))

    async def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        return await self._money("budget_usage", lambda s: s.budget_usage(key, now=now))

    async def ledger_append(self, record: str, *, ts: float) -> None:
        await self._money("ledger_append", lambda s: s.ledger_append(record, ts=ts))

    async def ledger_read(
        self, since: float | None = None, until: float | None = None
    ) -> list[str]:
        return await self._money("ledger_read", lambda s: s.ledger_read(since, until))

    async def _release(self) -> None:
        self.failover.discard()
        await self.inner.aclose()
