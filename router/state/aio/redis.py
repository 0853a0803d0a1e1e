"""The async Redis store: one multiplexed, auto-pipelined connection (:mod:`.resp_client`).

The same Lua scripts, key names and URL handling as the sync
:class:`~router.state.redis.RedisStore` (they live there, once): the two
stores read and write the same data and can share a server and a prefix.
The sync store speaks through redis-py; this one through the lean client
of :mod:`router.state.aio.resp_client`, because with many calls in flight
redis-py's asyncio client cost more CPU per command than a whole call on
the memory store (docs/performance.md).

Every operation is one round trip, as on the sync store: one command, one
``EVALSHA`` or one ``MULTI``/``EXEC`` batch (reading a long ledger takes one
``XRANGE`` per batch). A script the server does not know yet (fresh server,
restart, ``SCRIPT FLUSH``) is sent whole once by ``EVAL``. All operations of
all tasks share one connection: commands issued in the same event-loop
iteration leave in one write, and nothing waits for a free connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import redis as _sync
from ..base import Acquired, Admitted, BudgetCharge, BudgetUsage, LimitCharge, Reserved
from .base import AsyncStateStore
from .redis_url import parse_redis_url
from .resp import ReplyError
from .resp_client import RespClient

__all__ = ["AsyncRedisStore"]


class AsyncRedisStore(AsyncStateStore):
    """State in Redis 7, shared by many processes on many hosts; never blocks the loop.

    ``client`` (a :class:`RespClient`) replaces the one the URL would open;
    the store then closes it all the same.
    """

    def __init__(self, url: str, *, prefix: str | None = None, client: RespClient | None = None):
        if client is None:
            conn_url, _ = _sync._split_url(url)
            client = RespClient(parse_redis_url(conn_url))
        self._redis = client
        # RedisStore is the one home of this backend's layout: URL prefix,
        # key names, repr and the Lua scripts. Built around this client, its
        # registered scripts are the client's awaitable ones; only those and
        # its key and argument helpers are used here, never its blocking methods.
        self._layout = _sync.RedisStore(url, prefix=prefix, client=client)
        self.prefix: str = self._layout.prefix

    def __repr__(self) -> str:
        # Host only: the URL may carry a password.
        return f"Async{self._layout!r}"

    @property
    def _client(self) -> RespClient:
        self._check_open()
        return self._redis

    # -- key/value -------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        v = await self._client.execute("GET", self._layout._k(key))
        return None if v is None else str(v)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        values = await self._client.execute("MGET", *[self._layout._k(k) for k in keys])
        return [None if v is None else str(v) for v in values]

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        k = self._layout._k(key)
        if ttl_s is None:
            await self._client.execute("SET", k, value)
        elif ttl_s <= 0:
            await self._client.execute("DEL", k)
        else:
            await self._client.execute("SET", k, value, "PX", _sync._ttl_ms(ttl_s))

    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        self._check_open()
        keys, args = [self._layout._k(key)], [value, _sync._ttl_ms(ttl_s)]
        return bool(await self._layout._set_if_absent(keys=keys, args=args))

    async def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        self._check_open()
        keys, args = [self._layout._k(key)], [repr(float(amount)), _sync._ttl_ms(ttl_s)]
        try:
            total = await self._layout._incr(keys=keys, args=args)
        except ReplyError as e:
            raise ValueError(f"value at {key!r} is not a number") from e
        return float(total)

    async def delete(self, key: str) -> None:
        await self._client.execute("DEL", self._layout._k(key))

    # -- budgets -----------------------------------------------------------------

    async def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        self._check_open()
        layout = self._layout
        keys, args = layout._reserve_call(reservation, charges, amount_usd, now, hold_s)
        return layout._reserved(charges, await layout._reserve(keys=keys, args=args))

    async def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        self._check_open()
        rkeys, args = self._layout._commit_call(reservation, keys, amount_usd, now, record)
        return tuple(bool(f) for f in await self._layout._commit(keys=rkeys, args=args))

    async def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        client = self._client
        if keys:
            hdels = [("HDEL", self._layout._wk(key)[1], reservation) for key in keys]
            replies = await client.execute_many([("MULTI",), *hdels, ("EXEC",)])
            for reply in replies:
                if isinstance(reply, ReplyError):
                    raise reply

    async def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        self._check_open()
        s, h, n = await self._layout._usage(keys=list(self._layout._wk(key)), args=[repr(now)])
        return BudgetUsage(float(s), float(h), int(n))

    # -- rate and concurrency limits ---------------------------------------------

    async def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        self._check_open()
        if not charges:
            return Acquired(True)
        layout = self._layout
        keys, args = layout._acquire_call(ticket, charges, now, hold_s)
        return layout._acquired(charges, await layout._limit_acquire(keys=keys, args=args))

    async def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        self._check_open()
        rkeys, args = self._layout._release_call(ticket, keys, adjust, at)
        if rkeys:
            await self._layout._limit_release(keys=rkeys, args=args)

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
        self._check_open()
        layout = self._layout
        keys, args = layout._admit_call(
            reservation, charges, amount_usd, ticket, limits, now, hold_s, limit_hold_s
        )
        return layout._admitted(charges, limits, await layout._admit(keys=keys, args=args))

    # -- ledger --------------------------------------------------------------------

    async def ledger_append(self, record: str, *, ts: float) -> None:
        await self._client.execute("XADD", self._layout._ledger, "*", "ts", repr(ts), "r", record)

    async def ledger_read(
        self, since: float | None = None, until: float | None = None
    ) -> list[str]:
        client, stream = self._client, self._layout._ledger
        out: list[str] = []
        start = "-"
        while True:
            batch_size = _sync._LEDGER_BATCH
            batch = await client.execute("XRANGE", stream, start, "+", "COUNT", batch_size)
            for _id, fields in batch:
                entry = dict(zip(fields[::2], fields[1::2], strict=True))
                ts = float(entry["ts"])
                if (since is None or ts >= since) and (until is None or ts < until):
                    out.append(entry["r"])
            if len(batch) < batch_size:
                return out
            start = "(" + batch[-1][0]

    async def _release(self) -> None:
        await self._redis.aclose()
