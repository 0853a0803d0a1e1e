"""The adapter contract: sans-IO translation between the router's types and a wire format.

An adapter builds an :class:`HttpRequest`, parses a response body, decodes a
stream line by line and maps error responses to the exception tree. It never
opens a socket: the execution layer does all I/O, which keeps adapters
testable on recorded bytes and shared by the sync and async paths.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..credentials import mask_url
from ..errors import ProviderError, ProviderUnavailable
from ..types import ChatChunk, ChatRequest, ChatResponse
from .lines import LineSplitter
from .presets import Quirks
from .sse import SSEParser

__all__ = ["Adapter", "Endpoint", "HttpRequest", "SSEDecoder", "StreamDecoder", "loads_json"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything an adapter needs to address one target.

    The API key and headers are excluded from the repr, and ``base_url`` is shown
    with its userinfo and query values masked, so an endpoint can be logged or
    shown in a traceback without leaking a secret.
    """

    base_url: str
    model_id: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    api_version: str | None = None
    quirks: Quirks = field(default_factory=Quirks)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    default_max_tokens: int | None = None

    def __repr__(self) -> str:
        return _masked_repr(self, "base_url")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request to send; ``headers`` may hold a key and are kept out of the repr,
    ``url`` is shown with its userinfo and query values masked."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    json: dict[str, Any]

    def __repr__(self) -> str:
        return _masked_repr(self, "url")


def _masked_repr(obj: Any, url_field: str) -> str:
    """The dataclass repr of ``obj``, with its ``url_field`` through :func:`mask_url`."""
    shown = []
    for f in fields(obj):
        if f.repr:
            value = getattr(obj, f.name)
            shown.append(f"{f.name}={mask_url(value) if f.name == url_field else value!r}")
    return f"{type(obj).__name__}({', '.join(shown)})"


class StreamDecoder(ABC):
    """Turns a response stream, fed as the body's bytes or one text line at a time,
    into chunks.

    ``feed`` raises a :class:`ProviderError` for an error payload inside the
    stream (such payloads are failures, never content); ``close`` raises
    :class:`ProviderUnavailable` when the stream stopped before its end.
    Subclasses that define ``__init__`` call ``super().__init__()``.
    """

    def __init__(self) -> None:
        self._lines = LineSplitter()

    @abstractmethod
    def feed(self, line: str) -> list[ChatChunk]:
        """Decode one line; return the chunks it completes (often none)."""

    @abstractmethod
    def close(self) -> list[ChatChunk]:
        """Signal the end of the byte stream; return any final chunks."""

    def feed_lines(self, lines: list[str]) -> tuple[list[ChatChunk], ProviderError | None]:
        """Decode the lines one read of the body completed: the chunks they make, and
        the error a line carried, if any — which the caller raises only after
        delivering the chunks that came before it (lines after it are dropped)."""
        out: list[ChatChunk] = []
        for line in lines:
            try:
                out += self.feed(line)
            except ProviderError as e:
                return out, e
        return out, None

    def feed_bytes(self, data: bytes) -> tuple[list[ChatChunk], ProviderError | None]:
        """Decode one read of the body (any cut of the bytes): as :meth:`feed_lines`
        for the lines it completes."""
        return self.feed_lines(self._lines.feed(data))

    def flush_bytes(self) -> tuple[list[ChatChunk], ProviderError | None]:
        """Decode the last line when the body did not end with a line break; call
        once the body has ended, before :meth:`close`."""
        return self.feed_lines(self._lines.flush())

    @property
    @abstractmethod
    def done(self) -> bool:
        """Whether the stream's own end marker has been seen."""


class SSEDecoder(StreamDecoder):
    """A decoder for Server-Sent-Events streams: subclasses handle each event's data."""

    __slots__ = ("_sse",)

    def __init__(self) -> None:
        super().__init__()
        self._sse = SSEParser()

    def feed_bytes(self, data: bytes) -> tuple[list[ChatChunk], ProviderError | None]:
        # Nearly every read of a chat stream is whole events of one ``data: `` line
        # each, LF-terminated: those are cut out of the bytes directly. Anything
        # else (CR line ends, a line or event split across reads, comments, named
        # or multi-line events) takes the line-by-line path, which these equal.
        if self._lines.pending or self._sse.pending or b"\r" in data or not data.endswith(b"\n\n"):
            return self.feed_lines(self._lines.feed(data))
        out: list[ChatChunk] = []
        for block in data[:-2].split(b"\n\n"):
            if block.startswith(b"data: ") and b"\n" not in block:
                if len(block) == 6:
                    continue  # empty data: no chunk, as in ``feed``
                try:
                    out += self._data(block[6:].decode("utf-8", "replace"))
                except ProviderError as e:
                    return out, e
            else:
                chunks, err = self.feed_lines([*block.decode("utf-8", "replace").split("\n"), ""])
                out += chunks
                if err is not None:
                    return out, err
        return out, None

    def feed(self, line: str) -> list[ChatChunk]:
        ev = self._sse.feed(line)
        # An event with empty data carries nothing (a keep-alive of some servers).
        return self._data(ev.data) if ev is not None and ev.data else []

    def feed_lines(self, lines: list[str]) -> tuple[list[ChatChunk], ProviderError | None]:
        # The per-line loop of every stream: one call per read, not one per line.
        out: list[ChatChunk] = []
        feed = self._sse.feed
        for line in lines:
            ev = feed(line)
            if ev is not None and ev.data:  # empty data: nothing, as in ``feed``
                try:
                    out += self._data(ev.data)
                except ProviderError as e:
                    return out, e
        return out, None

    def _flush(self) -> list[ChatChunk]:
        """Chunks of an event the server left undispatched at the end of the stream."""
        ev = self._sse.flush()
        return self._data(ev.data) if ev is not None and ev.data else []

    @abstractmethod
    def _data(self, data: str) -> list[ChatChunk]:
        """The chunks one event's ``data`` makes; raises for an error payload."""


class Adapter(ABC):
    """One wire protocol."""

    kind: str
    provider_name: str
    """The ``gen_ai.provider.name`` value for telemetry."""

    @abstractmethod
    def build_request(
        self, endpoint: Endpoint, request: ChatRequest, *, stream: bool
    ) -> HttpRequest:
        """The HTTP request for this call."""

    @abstractmethod
    def parse_response(self, body: bytes) -> ChatResponse:
        """A successful (2xx) response body as a ChatResponse."""

    @abstractmethod
    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        """The exception for a non-2xx response."""

    @abstractmethod
    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed response."""


def loads_json(body: bytes | str, what: str = "response") -> Any:
    """Parse JSON, turning garbage into a retryable provider failure."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProviderUnavailable(f"malformed JSON in {what}", code="malformed_response") from None
