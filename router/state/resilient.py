"""A state store that outlives its server going away for a while.

:class:`ResilientStore` wraps a shared store (Redis) and decides, per kind of
operation, what happens when that store cannot be reached:

- **Key/value operations** (``get`` / ``set`` / ``set_if_absent`` / ``incr`` /
  ``delete``: breakers, health, migration guards and statistics) fall back to
  an in-process :class:`~router.state.memory.MemoryStore`, so calls go on,
  with breakers and health per process. One warning is logged when the
  fallback starts, not one per call.
- **Budget and ledger operations** never fall back (process memory would let
  every process spend a budget of its own: unbounded spend). They raise
  :class:`~router.errors.StateUnavailable`, at once while the store is known
  to be down: no connection timeout is waited for on each call.
- **Recovery.** While degraded, one operation every ``retry_s`` seconds
  (default 1) tries the store again; the first that succeeds switches back
  and logs "reachable again". What was written to the fallback meanwhile is
  discarded (breaker counts restart from the shared state).

Only connection-level failures count: redis-py's ``ConnectionError`` and
``TimeoutError`` (not an authentication or permission error) and
:class:`OSError`, which includes the async store's own client's
``RedisConnectionError`` and ``RedisTimeoutError``
(:mod:`router.state.aio.resp_client`). Any other error (a script error, a non-number under
``incr``, a closed store) propagates unchanged.

The decisions live in :class:`Failover`, which does no I/O; the sync wrapper
here and :class:`~router.state.aio.resilient.AsyncResilientStore` both
consult it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ..errors import StateUnavailable
from .base import (
    Acquired,
    Admitted,
    BudgetCharge,
    BudgetUsage,
    LimitCharge,
    Reserved,
    StateStore,
)
from .memory import MemoryStore

__all__ = ["DEFAULT_RETRY_S", "Failover", "ResilientStore", "connection_errors"]

log = logging.getLogger(__name__)

DEFAULT_RETRY_S = 1.0
"""How often, at most, a store known to be down is tried again (seconds)."""

T = TypeVar("T")
F = TypeVar("F")

ErrorTypes = tuple[type[BaseException], ...]


def connection_errors() -> tuple[ErrorTypes, ErrorTypes]:
    """The errors that mean "the store cannot be reached", and those excluded from them.

    redis-py's ``ConnectionError`` and ``TimeoutError`` (when redis is
    installed) and :class:`OSError`; minus redis-py's authentication and
    permission errors, which are configuration mistakes that waiting does
    not fix.
    """
    caught: list[type[BaseException]] = [OSError]
    excluded: list[type[BaseException]] = []
    try:
        from redis import exceptions as rx
    except ImportError:  # pragma: no cover - depends on the environment
        return tuple(caught), ()
    caught += [rx.ConnectionError, rx.TimeoutError]
    for name in ("AuthenticationError", "AuthorizationError"):
        err = getattr(rx, name, None)
        if isinstance(err, type) and issubclass(err, BaseException):
            excluded.append(err)
    return tuple(caught), tuple(excluded)


class Failover(Generic[F]):
    """Where each operation goes while a store comes and goes; no I/O.

    A wrapper asks :meth:`begin` before an operation: a ticket means "try the
    inner store", ``None`` means "it is down: use the fallback" (key/value)
    or "raise :meth:`refusal`" (money). It then reports :meth:`succeeded` or
    :meth:`failed` with that ticket. The ticket is the state's epoch (even:
    healthy, odd: degraded) when the operation began, so an operation that
    began before a switch cannot switch again on its late outcome: one
    outage logs one warning, however many calls were in flight.

    ``fallback`` builds the in-process store used while degraded (a fresh one
    per outage); ``clock`` is monotonic seconds. Thread-safe.
    """

    def __init__(
        self,
        name: str,
        fallback: Callable[[], F],
        *,
        retry_s: float = DEFAULT_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        errors: tuple[ErrorTypes, ErrorTypes] | None = None,
    ) -> None:
        if retry_s < 0:
            raise ValueError("retry_s must be >= 0")
        self.name = name
        """The store, as logs and errors name it (never with credentials)."""
        self.retry_s = retry_s
        self.errors, self._excluded = errors if errors is not None else connection_errors()
        self._new_fallback = fallback
        self._clock = clock
        self._lock = threading.Lock()
        self._epoch = 0
        self._next_try = 0.0
        self._fallback: F | None = None
        self._cause: BaseException | None = None

    @property
    def degraded(self) -> bool:
        """Whether the inner store is considered unreachable right now."""
        return bool(self._epoch & 1)

    def begin(self) -> int | None:
        """A ticket to try the inner store, or ``None``: it is down, do without.

        While degraded, one caller per ``retry_s`` gets a ticket (the probe).
        """
        epoch = self._epoch
        if not epoch & 1:
            return epoch
        now = self._clock()
        with self._lock:
            epoch = self._epoch
            if not epoch & 1:
                return epoch
            if now < self._next_try:
                return None
            self._next_try = now + self.retry_s
            return epoch

    def succeeded(self, ticket: int) -> None:
        """The inner store answered the operation of ``ticket``."""
        if not self._epoch & 1:
            return
        with self._lock:
            if ticket != self._epoch or not ticket & 1:
                return  # began before the outage: says nothing about now
            self._epoch += 1
            self._fallback = None
            self._cause = None
        log.warning(
            "state store %s reachable again: breakers and health use it again "
            "(what was kept in process memory meanwhile is discarded); budgets are enforced",
            self.name,
        )

    def failed(self, ticket: int, error: BaseException) -> bool:
        """The inner store failed the operation of ``ticket`` with ``error`` (one of
        :attr:`errors`); False when ``error`` does not mean unreachable (re-raise it)."""
        if isinstance(error, self._excluded):
            return False
        with self._lock:
            if ticket != self._epoch:
                return True  # another operation already switched
            self._next_try = self._clock() + self.retry_s
            if ticket & 1:
                return True  # a probe failed: still down
            self._epoch += 1
            self._fallback = self._new_fallback()
            self._cause = error
        log.warning(
            "state store %s unreachable (%s): breakers and health fall back to process "
            "memory; calls under a budget are refused until it is back (tried again every %gs)",
            self.name,
            _describe(error),
            self.retry_s,
        )
        return True

    def fallback(self) -> F:
        """The in-process store serving key/value operations while degraded."""
        with self._lock:
            f = self._fallback
            if f is None:  # a late failure after recovery: a throwaway store
                f = self._fallback = self._new_fallback()
            return f

    def discard(self) -> F | None:
        """Forget the fallback store (on close); returns it."""
        with self._lock:
            f, self._fallback = self._fallback, None
            return f

    def refusal(self, operation: str, error: BaseException | None = None) -> StateUnavailable:
        """The error a budget or ledger operation raises while the store is down."""
        cause = error if error is not None else self._cause
        why = f" ({_describe(cause)})" if cause is not None else ""
        if operation.startswith("ledger"):
            what = "the ledger cannot be read or written"
            then = ""
        else:
            what = "the budget cannot be enforced"
            then = "; a call under a budget is refused rather than spend without a limit"
        return StateUnavailable(
            f"{what} while the state store {self.name} is unreachable{why}{then}; "
            f"the store is tried again every {self.retry_s:g}s",
            store=self.name,
            operation=operation,
        )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class ResilientStore(StateStore):
    """``inner`` (a shared store) with the failure policy of :class:`Failover`.

    ``name`` is how logs and errors name the store (default ``repr(inner)``;
    :func:`~router.state.open_store` passes the masked URL); ``retry_s`` how
    often, at most, a store known to be down is tried again.
    """

    def __init__(
        self,
        inner: StateStore,
        *,
        name: str | None = None,
        retry_s: float = DEFAULT_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        errors: tuple[ErrorTypes, ErrorTypes] | None = None,
    ) -> None:
        self.inner = inner
        """The wrapped store."""
        self.failover: Failover[MemoryStore] = Failover(
            name if name is not None else repr(inner),
            MemoryStore,
            retry_s=retry_s,
            clock=clock,
            errors=errors,
        )

    def __repr__(self) -> str:
        return f"ResilientStore({self.inner!r})"

    @property
    def degraded(self) -> bool:
        """Whether the inner store is considered unreachable right now."""
        return self.failover.degraded

    def _kv(self, op: Callable[[StateStore], T]) -> T:
        f = self.failover
        ticket = f.begin()
        if ticket is not None:
            try:
                out = op(self.inner)
            except f.errors as e:
                if not f.failed(ticket, e):
                    raise
            else:
                f.succeeded(ticket)
                return out
        return op(f.fallback())

    def _money(self, operation: str, op: Callable[[StateStore], T]) -> T:
        f = self.failover
        ticket = f.begin()
        if ticket is None:
            raise f.refusal(operation)
        try:
            out = op(self.inner)
        except f.errors as e:
            if not f.failed(ticket, e):
                raise
            raise f.refusal(operation, e) from e
        f.succeeded(ticket)
        return out

    # -- key/value: process memory while the store is down ---------------------

    def get(self, key: str) -> str | None:
        return self._kv(lambda s: s.get(key))

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return self._kv(lambda s: s.get_many(keys))

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._kv(lambda s: s.set(key, value, ttl_s))

    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return self._kv(lambda s: s.set_if_absent(key, value, ttl_s))

    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        return self._kv(lambda s: s.incr(key, amount, ttl_s))

    def delete(self, key: str) -> None:
        self._kv(lambda s: s.delete(key))

    # -- limits: per-process limits while the store is down ----------------------
    # Counted in the same fallback store as breakers: each process enforces
    # every limit on its own until the shared store answers again (a deployment
    # of N processes may then admit up to N times a limit; one warning per outage).

    def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        return self._kv(lambda s: s.limit_acquire(ticket, charges, now=now, hold_s=hold_s))

    def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        self._kv(lambda s: s.limit_release(ticket, keys, adjust, at=at))

    # -- budgets and ledger: StateUnavailable while the store is down --------------

    def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        return self._money(
            "budget_reserve",
            lambda s: s.budget_reserve(reservation, charges, amount_usd, now=now, hold_s=hold_s),
        )

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
        # Money first: while the store is down the call is refused, as by budget_reserve
        # (its limits are never counted in process memory with a budget unenforced).
        return self._money(
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

    def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        return self._money(
            "budget_commit",
            lambda s: s.budget_commit(reservation, keys, amount_usd, now=now, record=record),
        )

    def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        self._money("budget_release", lambda s: s.budget_release(reservation, keys))

    def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        return self._money("budget_usage", lambda s: s.budget_usage(key, now=now))

    def ledger_append(self, record: str, *, ts: float) -> None:
        self._money("ledger_append", lambda s: s.ledger_append(record, ts=ts))

    def ledger_read(self, since: float | None = None, until: float | None = None) -> list[str]:
        return self._money("ledger_read", lambda s: s.ledger_read(since, until))

    def close(self) -> None:
        """Close the inner store and drop the fallback."""
        self.failover.discard()
        self.inner.close()
