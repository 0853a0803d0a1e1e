"""A line-fed Server-Sent Events parser (the wire framing, nothing provider-specific)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEEvent", "SSEParser"]


class SSEEvent(NamedTuple):
    """One dispatched event: its ``event:`` name (``message`` when unnamed) and data.

    A named tuple rather than a frozen dataclass: one is built per streamed
    chunk, and a tuple is several times cheaper to build.
    """

    event: str
    data: str


class SSEParser:
    """Feed lines without their terminators; get events as blank lines dispatch them."""

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    @property
    def pending(self) -> bool:
        """Whether an event has started (a data or event line) and not been dispatched."""
        return bool(self._data or self._event)

    def feed(self, line: str) -> SSEEvent | None:
        """Consume one line; return the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith("data:"):  # nearly every line of a chat stream
            self._data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            return None
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def flush(self) -> SSEEvent | None:
        """Dispatch what is pending at end of stream (servers that skip the last blank line)."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        ev = SSEEvent(self._event or "message", "\n".join(self._data))
        self._event = ""
        self._data = []
        return ev
