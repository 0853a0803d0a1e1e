"""Cache entries in the state store, read and written by store programs.

An entry is a JSON document under ``cache|e|<digest>``: the target that
answered, the absolute expiry (the router's clock, so a test or a
simulation controls it) and the response without its route. The store's own
TTL removes it too. Eviction uses only the store's atomic operations: each
write takes the next number of the route's counter (``incr``), and the slot
``number % max_entries`` names the digest written there; the entry a slot
named before is deleted. That is first-in-first-out over the route's
writes, approximate under concurrent writers (two writes of one digest may
hold two slots, and evicting the older slot drops the entry early: a miss,
never a wrong answer), bounded by ``max_entries`` per route.

Store errors never fail a call: a lookup that cannot read is a miss, a write
that cannot store is logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import ValidationError

from .._lazylog import get_logger
from ..config.schema import CacheConfig
from ..state.program import Program, op
from ..targets import Target
from ..types import ChatResponse
from . import EXTRA_KEY

__all__ = ["EXTRA_KEY", "MAX_ENTRY_BYTES", "Hit", "Lookup", "lookup_steps", "store_steps"]

log = get_logger(__name__)


MAX_ENTRY_BYTES = 1_000_000
"""Answers longer than this (as stored) are not cached: one entry never fills a store."""

_FORMAT = 1
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _entry_key(digest: str) -> str:
    return "cache|e|" + digest


def _ring(route: str) -> str:
    return "cache|n|" + quote(route, safe="")


def _slot(route: str, n: int) -> str:
    return f"cache|s|{quote(route, safe='')}|{n}"


@dataclass(frozen=True, slots=True)
class Hit:
    """A cached answer the current Decision admits: the response and its target."""

    response: ChatResponse
    target: Target


@dataclass(frozen=True, slots=True)
class Lookup:
    """A call the cache applies to: its key, and the hit when there was one."""

    digest: str
    hit: Hit | None


def lookup_steps(digest: str, plan: Sequence[Target], now: float) -> Program[Hit | None]:
    """The entry under ``digest`` if it is live and its target is in ``plan`` (a store program).

    Anything else — absent, expired, unreadable, written by another format,
    or produced by a target the policy no longer admits for this request —
    is a miss.
    """
    try:
        raw = yield op("get", _entry_key(digest))
    except Exception as e:
        log.warning("response cache not read: %s", type(e).__name__)
        return None
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        if doc.get("v") != _FORMAT or not float(doc["expires_at"]) > now:
            return None
        target = next((t for t in plan if t.name == doc["target"]), None)
        if target is None:
            return None
        return Hit(ChatResponse.model_validate(doc["response"]), target)
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
        log.warning("response cache entry unreadable: ignored")
        return None


def encode(target: Target, response: ChatResponse, expires_at: float) -> str | None:
    """The stored form of an answer, or ``None`` when it is not to be cached."""
    if not response.choices:
        return None
    doc = {
        "v": _FORMAT,
        "target": target.name,
        "expires_at": expires_at,
        "response": response.model_dump(mode="json", exclude={"route"}),
    }
    text = json.dumps(doc, separators=(",", ":"))
    return text if len(text) <= MAX_ENTRY_BYTES else None


def store_steps(
    route: str,
    cache: CacheConfig,
    digest: str,
    target: Target,
    response: ChatResponse,
    now: float,
) -> Program[bool]:
    """Store an answer under ``digest``, evicting the route's oldest write (a store program).

    Returns whether it was stored; never raises.
    """
    value = encode(target, response, now + cache.ttl_s)
    if value is None:
        return False
    ttl = cache.ttl_s
    try:
        n = yield op("incr", _ring(route))
        slot = _slot(route, int(n) % cache.max_entries)
        old = yield op("get", slot)
        yield op("set", _entry_key(digest), value, ttl_s=ttl)
        yield op("set", slot, digest, ttl_s=ttl)
        if old is not None and old != digest and _DIGEST.fullmatch(old):
            yield op("delete", _entry_key(old))
    except Exception as e:
        log.warning("response cache not written: %s", type(e).__name__)
        return False
    return True
