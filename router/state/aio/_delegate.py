"""An async store whose every operation is one call of a sync :class:`StateStore`.

The memory and SQLite async stores differ only in *where* that call runs
(directly, or on a worker thread), so each operation is mapped here once and
the backends provide :meth:`_SyncBacked._call`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..base import (
    Acquired,
    Admitted,
    BudgetCharge,
    BudgetUsage,
    LimitCharge,
    Reserved,
    StateStore,
)
from .base import AsyncStateStore

T = TypeVar("T")


class _SyncBacked(AsyncStateStore):
    @abstractmethod
    async def _call(self, op: Callable[[StateStore], T]) -> T:
        """Run ``op`` on the sync store and return its result (raising what it raises)."""

    async def get(self, key: str) -> str | None:
        return await self._call(lambda s: s.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return await self._call(lambda s: s.get_many(keys))

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        await self._call(lambda s: s.set(key, value, ttl_s))

    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return await self._call(lambda s: s.set_if_absent(key, value, ttl_s))

    async def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        return await self._call(lambda s: s.incr(key, amount, ttl_s))

    async def delete(self, key: str) -> None:
        await self._call(lambda s: s.delete(key))

    async def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        return await self._call(
            lambda s: s.budget_reserve(reservation, charges, amount_usd, now=now, hold_s=hold_s)
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
        return await self._call(
            lambda s: s.budget_commit(reservation, keys, amount_usd, now=now, record=record)
        )

    async def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        await self._call(lambda s: s.budget_release(reservation, keys))

    async def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        return await self._call(lambda s: s.budget_usage(key, now=now))

    async def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        return await self._call(lambda s: s.limit_acquire(ticket, charges, now=now, hold_s=hold_s))

    async def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        await self._call(lambda s: s.limit_release(ticket, keys, adjust, at=at))

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
        return await self._call(
            lambda s: s.admit(
                reservation,
                charges,
                amount_usd,
                ticket,
                limits,
                now=now,
                hold_s=hold_s,
                limit_hold_s=limit_hold_s,
            )
        )

    async def ledger_append(self, record: str, *, ts: float) -> None:
        await self._call(lambda s: s.ledger_append(record, ts=ts))

    async def ledger_read(
        self, since: float | None = None, until: float | None = None
    ) -> list[str]:
        return await self._call(lambda s: s.ledger_read(since, until))
