"""A request's :class:`~router.types.RequestContext`: the key's floor, tightened by headers.

The key sets the tenant and a floor (``gateway.keys[].context``). A request
may only tighten it: ``x-router-sensitivity`` raises the declared level
(never lowers it), ``x-router-max-cost-usd`` and ``x-router-deadline-s`` lower
their ceilings, ``x-router-min-quality`` raises its floor, ``x-router-tags``
adds tags. ``x-router-user`` (or the body's ``user``) names the end user.
A malformed value is a :class:`BadHeader`; the value is never quoted back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from ..config.schema import GatewayKey
from ..types import RequestContext

__all__ = ["HEADERS", "BadHeader", "request_context"]

SENSITIVITY = "x-router-sensitivity"
USER = "x-router-user"
TAGS = "x-router-tags"
MAX_COST = "x-router-max-cost-usd"
MIN_QUALITY = "x-router-min-quality"
DEADLINE = "x-router-deadline-s"
HEADERS = (SENSITIVITY, USER, TAGS, MAX_COST, MIN_QUALITY, DEADLINE)
"""The request headers the gateway reads."""

_MAX_TEXT = 256
"""Longest user or tag accepted (they end up in spans, audit records and budget keys)."""
_MAX_TAGS = 32


class BadHeader(ValueError):
    """A request header or field the gateway cannot use; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def _number(name: str, text: str, ok: Callable[[float], bool], what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise BadHeader(name, f"expected a number ({what})") from None
    if not math.isfinite(value) or not ok(value):
        raise BadHeader(name, f"expected {what}")
    return value


def _text(name: str, text: str) -> str:
    text = text.strip()
    if not text or len(text) > _MAX_TEXT or not text.isprintable():
        raise BadHeader(name, f"expected 1 to {_MAX_TEXT} printable characters")
    return text


def _lower(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _higher(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def request_context(
    key: GatewayKey | None,
    headers: Mapping[str, str],
    levels: Sequence[str],
    user: object = None,
) -> RequestContext:
    """The context of one request under ``key`` (``None``: no auth, no floor).

    ``levels``: the config's sensitivity levels, least sensitive first.
    ``user``: the body's ``user`` field (OpenAI) or ``metadata.user_id``
    (Anthropic); the ``x-router-user`` header wins over it.
    """
    floor = key.context if key is not None else None
    sensitivity = floor.sensitivity if floor else None
    if (raw := headers.get(SENSITIVITY)) is not None:
        asked = raw.strip()
        if asked not in levels:
            raise BadHeader(SENSITIVITY, f"expected one of {', '.join(levels)}")
        if sensitivity is None or levels.index(asked) > levels.index(sensitivity):
            sensitivity = asked
    tags = list(floor.tags if floor else ())
    if (raw := headers.get(TAGS)) is not None:
        for part in raw.split(","):
            if part.strip():
                tag = _text(TAGS, part)
                if tag not in tags:
                    tags.append(tag)
        if len(tags) > _MAX_TAGS:
            raise BadHeader(TAGS, f"at most {_MAX_TAGS} tags")
    max_cost = floor.max_cost_usd if floor else None
    if (raw := headers.get(MAX_COST)) is not None:
        max_cost = _lower(max_cost, _number(MAX_COST, raw, lambda v: v >= 0, "a number >= 0"))
    min_quality = floor.min_quality if floor else None
    if (raw := headers.get(MIN_QUALITY)) is not None:
        asked_q = _number(MIN_QUALITY, raw, lambda v: 0 <= v <= 100, "a number from 0 to 100")
        min_quality = _higher(min_quality, asked_q)
    deadline = floor.deadline_s if floor else None
    if (raw := headers.get(DEADLINE)) is not None:
        deadline = _lower(deadline, _number(DEADLINE, raw, lambda v: v > 0, "a number > 0"))
    who: str | None = None
    if (raw := headers.get(USER)) is not None:
        who = _text(USER, raw)
    elif user is not None:
        if not isinstance(user, str):
            raise BadHeader("user", "expected a string")
        who = _text("user", user)
    return RequestContext(
        tenant=key.tenant if key is not None else None,
        user=who,
        tags=tuple(tags),
        sensitivity=sensitivity,
        max_cost_usd=max_cost,
        min_quality=min_quality,
        deadline_s=deadline,
        metadata=dict(floor.metadata) if floor else {},
    )
