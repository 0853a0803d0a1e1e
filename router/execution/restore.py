"""Answers from a target that was sent redacted text, with the placeholders restored.

Only for a decision whose ``redact`` effect asks for ``restore`` and a target
in its zones (:meth:`router.policy.redaction.Redaction.applies`); any other
answer passes through untouched. The restoring itself is pure
(:mod:`router.policy.redaction`); this module only wraps the drivers' results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ..policy.redaction import Redaction, StreamRestorer
from ..targets import Target
from ..types import ChatChunk, ChatResponse

if TYPE_CHECKING:
    from .call import Call
    from .executor import Opened

__all__ = ["restore_opened", "restore_opened_async", "restore_response"]


def _restoring(call: Call, target: Target) -> Redaction | None:
    red = call.decision.redaction
    if red is None or not red.restore or not red.values or not red.applies(target):
        return None
    return red


def restore_response(call: Call, response: ChatResponse, target: Target) -> ChatResponse:
    """``response`` with this call's placeholders restored when ``target`` was sent them."""
    red = _restoring(call, target)
    return response if red is None else red.restore_response(response)


def _head(r: StreamRestorer, opened: Opened) -> None:
    opened.head = [r.feed(c) for c in opened.head]


def restore_opened(call: Call, opened: Opened) -> Opened:
    """``opened`` whose chunks come restored (a placeholder split across chunks whole)."""
    red = _restoring(call, opened.target)
    if red is None:
        return opened
    r = StreamRestorer(red)
    _head(r, opened)
    opened.rest = _sync(r, opened.rest)
    return opened


def restore_opened_async(call: Call, opened: Opened) -> Opened:
    """:func:`restore_opened` for the asyncio driver's streams."""
    red = _restoring(call, opened.target)
    if red is None:
        return opened
    r = StreamRestorer(red)
    _head(r, opened)
    opened.rest = _async(r, opened.rest)
    return opened


def _sync(r: StreamRestorer, rest: Iterator[ChatChunk]) -> Iterator[ChatChunk]:
    try:
        for chunk in rest:
            yield r.feed(chunk)
        tail = r.flush()
        if tail is not None:
            yield tail
    finally:
        close: Any = getattr(rest, "close", None)
        if close is not None:
            close()


async def _async(r: StreamRestorer, rest: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    try:
        async for chunk in rest:
            yield r.feed(chunk)
        tail = r.flush()
        if tail is not None:
            yield tail
    finally:
        aclose: Any = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
