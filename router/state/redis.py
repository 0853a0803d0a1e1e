"""The Redis state store: shared by every process on every host.

Each read-check-write runs as one Lua script, which Redis executes
atomically. Keys live under a prefix (``llm-router:`` unless the URL says
``?prefix=…``) so several deployments can share a server. Budget windows and
holds carry their expiry as data compared with the caller's ``now`` (exactly
as the other backends do); Redis TTLs are set as well, only so that old
windows are garbage-collected. Needs Redis 7 and the ``redis`` extra
(``pip install 'llm-policy-router[redis]'``). Multi-key scripts need every
key on one node: use one server (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError
from .base import (
    EPSILON_USD,
    LIMIT_BUCKETS,
    Acquired,
    Admitted,
    BudgetCharge,
    BudgetUsage,
    LimitCharge,
    Reserved,
    StateStore,
)

__all__ = ["RedisStore"]

DEFAULT_PREFIX = "llm-router:"
_FORGOTTEN_WINDOW_S = 86_400.0
_LEDGER_BATCH = 5_000

_INCR = """
local existed = redis.call('EXISTS', KEYS[1])
local ttl = tonumber(ARGV[2])
if existed == 0 and ttl and ttl <= 0 then
  return ARGV[1]
end
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if existed == 0 and ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return total
"""

_SET_IF_ABSENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[2])
if ttl and ttl <= 0 then return 1 end
if ttl then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

_FMT = """
local function fmt(x) return string.format('%.17g', x) end
"""

# Shared by the budget scripts: purge a window and its expired holds as of
# ``now``; return spent, held, count.
_WINDOW_STATE = (
    _FMT
    + """
local function state(wk, hk, now, purge)
  local exp = redis.call('HGET', wk, 'exp')
  if exp and tonumber(exp) <= now then
    if purge then redis.call('DEL', wk, hk) end
    return 0, 0, 0
  end
  local spent = tonumber(redis.call('HGET', wk, 'spent') or '0')
  local held, count = 0, 0
  local h = redis.call('HGETALL', hk)
  for j = 1, #h, 2 do
    local a, e = string.match(h[j + 1], '^(%S+) (%S+)$')
    if tonumber(e) <= now then
      if purge then redis.call('HDEL', hk, h[j]) end
    else
      held = held + tonumber(a)
      count = count + 1
    end
  end
  return spent, held, count
end
"""
)

# The budget reservation and the limit acquisition are functions of (keys, args),
# so that one script (_ADMIT) can run both atomically, in one round trip.
_RESERVE_FN = """
local function reserve(KEYS, ARGV)
local rid, amount, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local hold_until, eps = tonumber(ARGV[4]), tonumber(ARGV[5])
local n = #KEYS / 2
local out, refused = {}, {}
for i = 1, n do
  local spent, held, count = state(KEYS[2 * i - 1], KEYS[2 * i], now, true)
  out[i] = {fmt(spent), fmt(held), count}
  local limit = tonumber(ARGV[5 + 2 * i - 1])
  if amount > 0 and spent + held + amount > limit + eps then
    refused[#refused + 1] = i
  end
end
if #refused > 0 then return {0, out, refused} end
for i = 1, n do
  local wk, hk = KEYS[2 * i - 1], KEYS[2 * i]
  local wexp = tonumber(ARGV[5 + 2 * i])
  local old = tonumber(redis.call('HGET', wk, 'exp') or '0')
  if old > wexp then wexp = old end
  redis.call('HSETNX', wk, 'spent', '0')
  redis.call('HSET', wk, 'exp', fmt(wexp))
  redis.call('HSET', hk, rid, fmt(amount) .. ' ' .. fmt(hold_until))
  local gc = math.max(wexp, hold_until) - now
  if gc < 1 then gc = 1 end
  redis.call('PEXPIRE', wk, math.ceil(gc * 1000))
  redis.call('PEXPIRE', hk, math.ceil(gc * 1000))
end
return {1, out, {}}
end
"""

_RESERVE = _WINDOW_STATE + _RESERVE_FN + "return reserve(KEYS, ARGV)\n"

_COMMIT = """
local function fmt(x) return string.format('%.17g', x) end
local rid, amount, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local forget = tonumber(ARGV[4])
local n = (#KEYS - 1) / 2
local found = {}
for i = 1, n do
  local wk, hk = KEYS[2 * i - 1], KEYS[2 * i]
  found[i] = 0
  local v = redis.call('HGET', hk, rid)
  if v then
    local e = string.match(v, '^%S+ (%S+)$')
    if tonumber(e) > now then found[i] = 1 end
    redis.call('HDEL', hk, rid)
  end
  local exp = redis.call('HGET', wk, 'exp')
  if (not exp) or tonumber(exp) <= now then
    redis.call('DEL', wk)
    redis.call('HSET', wk, 'spent', '0', 'exp', fmt(now + forget))
    redis.call('PEXPIRE', wk, math.ceil(forget * 1000))
  end
  redis.call('HINCRBYFLOAT', wk, 'spent', ARGV[2])
end
if ARGV[5] == '1' then
  redis.call('XADD', KEYS[#KEYS], '*', 'ts', ARGV[3], 'r', ARGV[6])
end
return found
"""

_USAGE = (
    _WINDOW_STATE
    + """
local spent, held, count = state(KEYS[1], KEYS[2], tonumber(ARGV[1]), false)
return {fmt(spent), fmt(held), count}
"""
)


# Rate and concurrency limits, one script each way. A window is a hash of
# bucket -> units (the bucketing of router.state.base.limit_buckets); a
# concurrency limit a sorted set of ticket -> expiry. The acquisition replies
# {ok, refused indexes, wait}: wait is "" (unknown), "inf" or seconds.
_ACQUIRE_FN = """
local function acquire(KEYS, ARGV)
local ticket, now, hold_until = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nb = tonumber(ARGV[4])
local refused, wait, unknown = {}, 0, false
for i = 1, #KEYS do
  local k = KEYS[i]
  local limit, amount = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  local w = tonumber(ARGV[4 + 3 * i])
  if w > 0 then
    local width = w / nb
    local cutoff = math.floor((now - w) / width)
    local h = redis.call('HGETALL', k)
    local live, used = {}, 0
    for j = 1, #h, 2 do
      local b = tonumber(h[j])
      if b < cutoff then
        redis.call('HDEL', k, h[j])
      else
        local a = tonumber(h[j + 1])
        used = used + a
        live[#live + 1] = {b, a}
      end
    end
    if used + amount > limit then
      refused[#refused + 1] = i
      local this = 0
      if amount > limit then
        this = math.huge
      else
        table.sort(live, function(x, y) return x[1] < y[1] end)
        for _, e in ipairs(live) do
          used = used - e[2]
          if used + amount <= limit then
            this = (e[1] + 1) * width + w - now
            break
          end
        end
      end
      if this > wait then wait = this end
    end
  else
    redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[2])
    if (not redis.call('ZSCORE', k, ticket)) and redis.call('ZCARD', k) >= limit then
      refused[#refused + 1] = i
      unknown = true
    end
  end
end
if #refused > 0 then
  local out = fmt(wait)
  if unknown then out = '' elseif wait == math.huge then out = 'inf' end
  return {0, refused, out}
end
for i = 1, #KEYS do
  local k = KEYS[i]
  local amount, w = ARGV[3 + 3 * i], tonumber(ARGV[4 + 3 * i])
  if w > 0 then
    local width = w / nb
    redis.call('HINCRBYFLOAT', k, string.format('%.0f', math.floor(now / width)), amount)
    redis.call('PEXPIRE', k, math.ceil((w + width) * 1000) + 1000)
  else
    redis.call('ZADD', k, ARGV[3], ticket)
    local ttl = math.ceil((hold_until - now) * 1000) + 1000
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
return {1, {}, ''}
end
"""

_LIMIT_ACQUIRE = _FMT + _ACQUIRE_FN + "return acquire(KEYS, ARGV)\n"

# A call's admission: the budget hold, then (only if it was placed) the limits.
# KEYS: the reservation's, then the acquisition's; ARGV: how many keys and
# arguments are the reservation's, its arguments, then the acquisition's.
# Replies {reserved} or {reserved, acquired}.
_ADMIT = (
    _WINDOW_STATE
    + _RESERVE_FN
    + _ACQUIRE_FN
    + """
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local bk, ba, lk, la = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= nk then bk[#bk + 1] = KEYS[i] else lk[#lk + 1] = KEYS[i] end
end
for i = 3, #ARGV do
  if i <= 2 + na then ba[#ba + 1] = ARGV[i] else la[#la + 1] = ARGV[i] end
end
local r = reserve(bk, ba)
if r[1] == 0 then return {r} end
return {r, acquire(lk, la)}
"""
)

_LIMIT_RELEASE = """
local ticket, holds, at, nb = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, holds do
  redis.call('ZREM', KEYS[i], ticket)
end
for i = holds + 1, #KEYS do
  local j = 4 + 2 * (i - holds)
  local amount, w = ARGV[j - 1], tonumber(ARGV[j])
  local width = w / nb
  redis.call('HINCRBYFLOAT', KEYS[i], string.format('%.0f', math.floor(at / width)), amount)
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], math.ceil((w + width) * 1000) + 1000)
  end
end
return 1
"""


def _split_url(url: str) -> tuple[str, str]:
    """The URL without our ``prefix`` query parameter, and the prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    rest = []
    for k, v in query:
        if k == "prefix":
            prefix = v
        else:
            rest.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


def _ttl_ms(ttl_s: float | None) -> str:
    """A TTL as script argument: "" for none, "0" for already expired, else milliseconds."""
    if ttl_s is None:
        return ""
    return str(max(1, math.ceil(ttl_s * 1000))) if ttl_s > 0 else "0"


def require(module: str) -> Any:
    """``module`` of the redis package, or a ConfigError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "state: redis:// needs the redis package: pip install 'llm-policy-router[redis]'",
            key="state",
        ) from e


class RedisStore(StateStore):
    """State in Redis 7, shared by many processes on many hosts."""

    def __init__(self, url: str, *, prefix: str | None = None, client: Any = None) -> None:
        redis = require("redis")
        conn_url, url_prefix = _split_url(url)
        self.prefix = url_prefix if prefix is None else prefix
        parts = urlsplit(conn_url)
        self._where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"
        self._redis: Any = client or redis.Redis.from_url(conn_url, decode_responses=True)
        self._error = redis.ResponseError
        self._incr = self._redis.register_script(_INCR)
        self._set_if_absent = self._redis.register_script(_SET_IF_ABSENT)
        self._reserve = self._redis.register_script(_RESERVE)
        self._commit = self._redis.register_script(_COMMIT)
        self._usage = self._redis.register_script(_USAGE)
        self._limit_acquire = self._redis.register_script(_LIMIT_ACQUIRE)
        self._limit_release = self._redis.register_script(_LIMIT_RELEASE)
        self._admit = self._redis.register_script(_ADMIT)

    def __repr__(self) -> str:
        # Host only: the URL may carry a password.
        return f"RedisStore({self._where!r}, prefix={self.prefix!r})"

    def _k(self, key: str) -> str:
        return f"{self.prefix}kv:{key}"

    def _wk(self, key: str) -> tuple[str, str]:
        return f"{self.prefix}bw:{key}", f"{self.prefix}bh:{key}"

    @property
    def _ledger(self) -> str:
        return f"{self.prefix}ledger"

    # -- key/value -------------------------------------------------------------

    def get(self, key: str) -> str | None:
        v = self._redis.get(self._k(key))
        return None if v is None else str(v)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        return [None if v is None else str(v) for v in self._redis.mget([self._k(k) for k in keys])]

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        if ttl_s is None:
            self._redis.set(self._k(key), value)
        elif ttl_s <= 0:
            self._redis.delete(self._k(key))
        else:
            self._redis.set(self._k(key), value, px=max(1, math.ceil(ttl_s * 1000)))

    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return bool(self._set_if_absent(keys=[self._k(key)], args=[value, _ttl_ms(ttl_s)]))

    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        try:
            total = self._incr(keys=[self._k(key)], args=[repr(float(amount)), _ttl_ms(ttl_s)])
        except self._error as e:
            raise ValueError(f"value at {key!r} is not a number") from e
        return float(total)

    def delete(self, key: str) -> None:
        self._redis.delete(self._k(key))

    # -- budgets -----------------------------------------------------------------

    def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        keys, args = self._reserve_call(reservation, charges, amount_usd, now, hold_s)
        return self._reserved(charges, self._reserve(keys=keys, args=args))

    # The arguments of the budget scripts and the reading of their replies, shared
    # with the async store (router.state.aio.redis), which runs the same scripts.

    def _reserve_call(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        now: float,
        hold_s: float,
    ) -> tuple[list[str], list[str]]:
        keys: list[str] = []
        args: list[str] = [
            reservation,
            repr(float(amount_usd)),
            repr(now),
            repr(now + hold_s),
            repr(EPSILON_USD),
        ]
        for c in charges:
            keys.extend(self._wk(c.key))
            args.extend((repr(float(c.limit_usd)), repr(c.expires_at)))
        return keys, args

    @staticmethod
    def _reserved(charges: Sequence[BudgetCharge], reply: Any) -> Reserved:
        ok, out, refused = reply
        usage = {
            c.key: BudgetUsage(float(s), float(h), int(n))
            for c, (s, h, n) in zip(charges, out, strict=True)
        }
        return Reserved(bool(ok), usage, tuple(charges[i - 1].key for i in refused))

    def _commit_call(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        now: float,
        record: str | None,
    ) -> tuple[list[str], list[str]]:
        rkeys = [k for key in keys for k in self._wk(key)] + [self._ledger]
        args = [
            reservation,
            repr(float(amount_usd)),
            repr(now),
            repr(_FORGOTTEN_WINDOW_S),
            "0" if record is None else "1",
            record or "",
        ]
        return rkeys, args

    def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        rkeys, args = self._commit_call(reservation, keys, amount_usd, now, record)
        return tuple(bool(f) for f in self._commit(keys=rkeys, args=args))

    def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        if keys:
            pipe = self._redis.pipeline(transaction=True)
            for key in keys:
                pipe.hdel(self._wk(key)[1], reservation)
            pipe.execute()

    def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        s, h, n = self._usage(keys=list(self._wk(key)), args=[repr(now)])
        return BudgetUsage(float(s), float(h), int(n))

    # -- rate and concurrency limits ---------------------------------------------

    def _lk(self, c: LimitCharge | str, window: bool) -> str:
        key = c if isinstance(c, str) else c.key
        return f"{self.prefix}{'lw' if window else 'lh'}:{key}"

    # The arguments and replies of the limit scripts, shared with the async store.

    def _acquire_call(
        self, ticket: str, charges: Sequence[LimitCharge], now: float, hold_s: float
    ) -> tuple[list[str], list[str]]:
        keys = [self._lk(c, c.window_s > 0) for c in charges]
        args = [ticket, repr(now), repr(now + hold_s), str(LIMIT_BUCKETS)]
        for c in charges:
            args.extend((repr(float(c.limit)), repr(float(c.amount)), repr(float(c.window_s))))
        return keys, args

    @staticmethod
    def _acquired(charges: Sequence[LimitCharge], reply: Any) -> Acquired:
        ok, refused, wait = reply
        if ok:
            return Acquired(True)
        after = None if wait == "" else math.inf if wait == "inf" else float(wait)
        return Acquired(False, tuple(charges[int(i) - 1].key for i in refused), after)

    def _release_call(
        self, ticket: str, keys: Sequence[str], adjust: Sequence[LimitCharge], at: float
    ) -> tuple[list[str], list[str]]:
        moves = [c for c in adjust if c.window_s > 0 and c.amount]
        rkeys = [self._lk(k, False) for k in keys] + [self._lk(c, True) for c in moves]
        args = [ticket, str(len(keys)), repr(at), str(LIMIT_BUCKETS)]
        for c in moves:
            args.extend((repr(float(c.amount)), repr(float(c.window_s))))
        return rkeys, args

    def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        if not charges:
            return Acquired(True)
        keys, args = self._acquire_call(ticket, charges, now, hold_s)
        return self._acquired(charges, self._limit_acquire(keys=keys, args=args))

    def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        rkeys, args = self._release_call(ticket, keys, adjust, at)
        if rkeys:
            self._limit_release(keys=rkeys, args=args)

    # -- both at once ------------------------------------------------------------------

    def _admit_call(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        ticket: str,
        limits: Sequence[LimitCharge],
        now: float,
        hold_s: float,
        limit_hold_s: float,
    ) -> tuple[list[str], list[str]]:
        bkeys, bargs = self._reserve_call(reservation, charges, amount_usd, now, hold_s)
        lkeys, largs = self._acquire_call(ticket, limits, now, limit_hold_s)
        return [*bkeys, *lkeys], [str(len(bkeys)), str(len(bargs)), *bargs, *largs]

    def _admitted(
        self, charges: Sequence[BudgetCharge], limits: Sequence[LimitCharge], reply: Any
    ) -> Admitted:
        reserved = self._reserved(charges, reply[0])
        if len(reply) < 2:
            return Admitted(reserved)
        return Admitted(reserved, self._acquired(limits, reply[1]))

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
        keys, args = self._admit_call(
            reservation, charges, amount_usd, ticket, limits, now, hold_s, limit_hold_s
        )
        return self._admitted(charges, limits, self._admit(keys=keys, args=args))

    # -- ledger --------------------------------------------------------------------

    def ledger_append(self, record: str, *, ts: float) -> None:
        self._redis.xadd(self._ledger, {"ts": repr(ts), "r": record})

    def ledger_read(self, since: float | None = None, until: float | None = None) -> list[str]:
        out: list[str] = []
        start = "-"
        while True:
            batch = self._redis.xrange(self._ledger, min=start, max="+", count=_LEDGER_BATCH)
            for _id, fields in batch:
                ts = float(fields["ts"])
                if (since is None or ts >= since) and (until is None or ts < until):
                    out.append(fields["r"])
            if len(batch) < _LEDGER_BATCH:
                return out
            start = "(" + batch[-1][0]

    def close(self) -> None:
        self._redis.close()
