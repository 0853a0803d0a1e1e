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
    opened.rest = _Restored(r, opened.rest)
    return opened


def restore_opened_async(call: Call, opened: Opened) -> Opened:
    """:func:`restore_opened` for the asyncio driver's streams."""
    red = _restoring(call, opened.target)
    if red is None:
        return opened
    r = StreamRestorer(red)
    _head(r, opened)
    opened.rest = _AsyncRestored(r, opened.rest)
    return opened


class _Restored:
    """A chunk iterator restoring placeholders; ``close`` reaches the wrapped stream
    even before the first chunk is read (a generator's would not)."""

    def __init__(self, r: StreamRestorer, rest: Iterator[ChatChunk]) -> None:
        self._r, self._rest, self._done = r, iter(rest), False
        self._source = rest

    def __iter__(self) -> Iterator[ChatChunk]:
        return self

    def __next__(self) -> ChatChunk:
        if self._done:
            raise StopIteration
        try:
            chunk = next(self._rest)
        except StopIteration:
            self._done = True
            tail = self._r.flush()
            if tail is None:
                raise
            return tail
        return self._r.feed(chunk)

    def close(self) -> None:
        """Close the wrapped stream (its connection)."""
        self._done = True
        close: Any = getattr(self._source, "close", None)
        if close is not None:
            close()


class _AsyncRestored:
    """:class:`_Restored` for the asyncio driver's streams."""

    def __init__(self, r: StreamRestorer, rest: AsyncIterator[ChatChunk]) -> None:
        self._r, self._rest, self._done = r, rest.__aiter__(), False
        self._source = rest

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self

    async def __anext__(self) -> ChatChunk:
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._rest.__anext__()
        except StopAsyncIteration:
            self._done = True
            tail = self._r.flush()
            if tail is None:
                raise
            return tail
        return self._r.feed(chunk)

    async def aclose(self) -> None:
        """Close the wrapped stream (its connection)."""
        self._done = True
        aclose: Any = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
