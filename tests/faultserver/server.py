"""A fault-injecting HTTP/1.1 server on 127.0.0.1, scriptable per request.

It runs an asyncio server in its own thread so that blocking (``Router``) and
asyncio (``AsyncRouter``) clients can both talk to it. The first path segment
names the *target* (``/<target>/v1/chat/completions``), the path's end names
the protocol (OpenAI ``/chat/completions``, Anthropic ``/messages``, Ollama
``/api/chat``). Each target has a queue of scripted :class:`Fault` s consumed
one per request, then a default (``ok``). Every request is recorded before
its fault is applied, so a test can prove where traffic did (not) go.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from .wire import error_body, error_frame, is_stream, ok_body, stream_frames, wire_for_path

__all__ = ["Fault", "FaultServer", "Record"]

_HANG_MAX_S = 60.0


@dataclass(frozen=True)
class Fault:
    """What the server does with one request.

    ``kind``: ``ok``, ``status``, ``hang``, ``reset``, ``cut``, ``malformed``,
    ``stream_error``, ``wrong_type``, ``huge``, ``raw``. ``delay_s`` delays the
    status line (a slow first byte); ``after`` is the number of content frames
    sent before a ``cut`` or a ``stream_error``. A ``raw`` fault serves given
    bytes (recorded wire fixtures): ``body`` whole, or ``frames`` streamed one
    chunk each, the connection dropped after them when ``drop`` is set.
    """

    kind: str = "ok"
    status: int = 200
    code: str | None = None
    message: str = "injected fault"
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    after: int = 0
    text: str | None = None
    size: int = 0
    body: bytes = b""
    frames: tuple[bytes, ...] | None = None
    content_type: str = "application/json"
    drop: bool = False

    # -- constructors, one per fault ----------------------------------------

    @classmethod
    def ok(
        cls, text: str | None = None, delay_s: float = 0.0, headers: dict[str, str] | None = None
    ) -> Fault:
        """A normal answer (after ``delay_s``: a slow first byte), with extra response headers."""
        return cls("ok", text=text, delay_s=delay_s, headers=tuple((headers or {}).items()))

    @classmethod
    def http(
        cls,
        status: int,
        code: str | None = None,
        message: str = "injected",
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """An error status (500, 502, 503, 529, 400, 401, ...), with extra response headers."""
        h = tuple((headers or {}).items())
        return cls("status", status=status, code=code, message=message, headers=h)

    @classmethod
    def rate_limit(
        cls, seconds: float | None = None, ms: float | None = None, date_in_s: float | None = None
    ) -> Fault:
        """A 429 with ``Retry-After`` seconds, ``retry-after-ms``, or an HTTP date."""
        h: list[tuple[str, str]] = []
        if seconds is not None:
            h.append(("Retry-After", f"{seconds:g}"))
        if ms is not None:
            h.append(("retry-after-ms", f"{ms:g}"))
        if date_in_s is not None:
            h.append(("Retry-After", formatdate(time.time() + date_in_s, usegmt=True)))
        return cls("status", status=429, code="rate_limit_exceeded", headers=tuple(h))

    @classmethod
    def quota(cls) -> Fault:
        """A 429 that waiting will not fix."""
        return cls(
            "status",
            status=429,
            code="insufficient_quota",
            message="You exceeded your current quota",
        )

    @classmethod
    def context_length(cls) -> Fault:
        """A 400 saying the prompt does not fit."""
        return cls(
            "status",
            status=400,
            code="context_length_exceeded",
            message="maximum context length exceeded",
        )

    @classmethod
    def raw(
        cls,
        body: bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Fault:
        """Exactly these bytes as a whole response body."""
        h = tuple((headers or {}).items())
        return cls("raw", status=status, headers=h, body=body, content_type=content_type)

    @classmethod
    def raw_stream(cls, frames: list[bytes], content_type: str, *, drop: bool = False) -> Fault:
        """A 200 streaming ``frames``, one chunk each; ``drop``: then cut the connection."""
        return cls("raw", frames=tuple(frames), content_type=content_type, drop=drop)

    @classmethod
    def hang(cls, seconds: float = _HANG_MAX_S) -> Fault:
        """Read the request, never answer (until the client leaves or ``seconds``)."""
        return cls("hang", delay_s=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection with a TCP reset."""
        return cls("reset")

    @classmethod
    def cut(cls, after: int = 2) -> Fault:
        """Start the answer, then close the connection midway."""
        return cls("cut", after=after)

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 whose JSON is garbage."""
        return cls("malformed")

    @classmethod
    def stream_error(cls, after: int = 0) -> Fault:
        """An error payload inside a 200 (stream: after ``after`` content frames)."""
        return cls("stream_error", after=after)

    @classmethod
    def wrong_type(cls) -> Fault:
        """A 200 HTML page where JSON or a stream was expected."""
        return cls("wrong_type")

    @classmethod
    def huge(cls, size: int = 2_000_000) -> Fault:
        """A valid answer of ``size`` characters."""
        return cls("huge", size=size)


@dataclass(frozen=True)
class Record:
    """One request as the server received it."""

    target: str
    wire: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    stream: bool
    fault: str
    at: float = field(default_factory=time.monotonic)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else "Unknown"


def _head(
    status: int,
    ctype: str,
    *,
    length: int | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_reason(status)}", f"content-type: {ctype}"]
    if length is None:
        lines.append("transfer-encoding: chunked")
    else:
        lines.append(f"content-length: {length}")
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class FaultServer:
    """Start with :meth:`start` (or as a context manager); stop with :meth:`stop`."""

    def __init__(self) -> None:
        self.port = 0
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Fault]] = defaultdict(deque)
        self._defaults: dict[str, Fault] = {}
        self._records: list[Record] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.open_connections = 0
        self.total_connections = 0
        self._live: dict[str, int] = defaultdict(int)
        self._peak: dict[str, int] = defaultdict(int)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> FaultServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="faultserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def stop(self) -> None:
        """Cancel every connection, close the socket and join the thread."""
        if self._loop is None or self._thread is None:
            return
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
        if self._thread.is_alive():
            raise RuntimeError("fault server did not stop")
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    # -- scripting and records -------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, target: str, wire: str = "openai") -> str:
        """The ``base_url`` a provider of ``wire`` kind should use for ``target``."""
        return f"{self.url}/{target}/v1" if wire == "openai" else f"{self.url}/{target}"

    def script(self, target: str, *faults: Fault) -> None:
        """Queue faults for the next requests to ``target``."""
        with self._lock:
            self._scripts[target].extend(faults)

    def default(self, target: str, fault: Fault) -> None:
        """What ``target`` does once its script is used up."""
        with self._lock:
            self._defaults[target] = fault

    def reset(self) -> None:
        """Forget scripts, defaults and records."""
        with self._lock:
            self._scripts.clear()
            self._defaults.clear()
            self._records.clear()
            self._peak.clear()

    def records(self, target: str | None = None) -> list[Record]:
        """Requests received (for ``target``, or all)."""
        with self._lock:
            return [r for r in self._records if target is None or r.target == target]

    def targets_hit(self) -> set[str]:
        """Every target that received at least one request."""
        return {r.target for r in self.records()}

    def count(self, target: str) -> int:
        return len(self.records(target))

    def peak_in_flight(self, target: str) -> int:
        """The most requests ``target`` was answering at once (since the last reset)."""
        with self._lock:
            return self._peak.get(target, 0)

    def pending(self, target: str) -> int:
        """Scripted faults ``target`` has not consumed yet."""
        with self._lock:
            return len(self._scripts.get(target, ()))

    def _next_fault(self, target: str) -> Fault:
        with self._lock:
            q = self._scripts.get(target)
            if q:
                return q.popleft()
            return self._defaults.get(target, Fault())

    # -- HTTP ----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.open_connections += 1
        self.total_connections += 1
        abort = False
        try:
            while True:
                req = await self._read_request(reader)
                if req is None:
                    break
                target = req[1].lstrip("/").split("/", 1)[0]
                with self._lock:
                    self._live[target] += 1
                    self._peak[target] = max(self._peak[target], self._live[target])
                try:
                    keep, abort = await self._respond(req, reader, writer)
                finally:
                    with self._lock:
                        self._live[target] -= 1
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            abort = True
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)  # type: ignore[arg-type]
            if abort:
                writer.transport.abort()
            else:
                writer.close()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(writer.wait_closed(), 1)

    @staticmethod
    async def _read_request(
        reader: asyncio.StreamReader,
    ) -> tuple[str, str, dict[str, str], bytes] | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return method, path, headers, body

    async def _respond(
        self,
        req: tuple[str, str, dict[str, str], bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> tuple[bool, bool]:
        """Answer one request; returns (keep the connection, abort it)."""
        method, path, headers, raw = req
        target = path.lstrip("/").split("/", 1)[0]
        wire = wire_for_path(path)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        stream = wire is not None and is_stream(wire, path, body)
        fault = self._next_fault(target)
        secret = ("authorization", "x-api-key", "api-key", "x-goog-api-key")
        safe_headers = {k: v for k, v in headers.items() if k not in secret}
        with self._lock:
            self._records.append(
                Record(target, wire, method, path, safe_headers, body, stream, fault.kind)
            )
        if wire is None or not isinstance(body, dict):
            msg = b'{"error": "unknown path or body"}'
            writer.write(_head(404, "application/json", length=len(msg)) + msg)
            await writer.drain()
            return True, False
        model = str(body.get("model", "fault-model"))
        text = fault.text or f"Hello from {target}"
        if fault.kind == "hang":
            # Wait for the client to give up (EOF) or the hang to end.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), fault.delay_s)
            return False, True
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.kind == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False, True
        if fault.kind == "status":
            data = error_body(wire, fault.status, fault.message, fault.code)
            writer.write(
                _head(fault.status, "application/json", length=len(data), extra=fault.headers)
                + data
            )
            await writer.drain()
            return True, False
        if fault.kind == "raw":
            return await self._raw(fault, writer)
        if fault.kind == "wrong_type":
            data = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
            writer.write(_head(200, "text/html", length=len(data)) + data)
            await writer.drain()
            return True, False
        if fault.kind == "huge":
            text = "x" * fault.size
        if not stream:
            return await self._whole(wire, model, text, fault, writer)
        return await self._stream(wire, model, text, fault, writer)

    @staticmethod
    async def _raw(fault: Fault, writer: asyncio.StreamWriter) -> tuple[bool, bool]:
        if fault.frames is None:
            head = _head(
                fault.status, fault.content_type, length=len(fault.body), extra=fault.headers
            )
            writer.write(head + fault.body)
            await writer.drain()
            return True, False
        writer.write(_head(200, fault.content_type, extra=fault.headers))
        for frame in fault.frames:
            writer.write(_chunk(frame))
            await writer.drain()
        if fault.drop:
            return False, True
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True, False

    @staticmethod
    async def _whole(
        wire: str, model: str, text: str, fault: Fault, writer: asyncio.StreamWriter
    ) -> tuple[bool, bool]:
        if fault.kind == "malformed":
            data = b'{"id": "broken", "choices": [{"message": '
        elif fault.kind == "stream_error":
            data = error_body(wire, 500, fault.message, "server_error")
        else:
            data = ok_body(wire, model, text)
        if fault.kind == "cut":
            # Promise the whole body, deliver half of it.
            writer.write(_head(200, "application/json", length=len(data)) + data[: len(data) // 2])
            await writer.drain()
            return False, True
        writer.write(_head(200, "application/json", length=len(data), extra=fault.headers) + data)
        await writer.drain()
        return True, False

    @staticmethod
    async def _stream(
        wire: str, model: str, text: str, fault: Fault, writer: asyncio.StreamWriter
    ) -> tuple[bool, bool]:
        piece = 65536 if fault.kind == "huge" else 0
        frames, first = stream_frames(wire, model, text, piece)
        ctype = "application/x-ndjson" if wire == "ollama" else "text/event-stream"
        writer.write(_head(200, ctype, extra=fault.headers))
        if fault.kind == "malformed":
            bad = b"data: {not json\n\n" if wire != "ollama" else b"{not json\n"
            frames = [*frames[:first], bad]
        elif fault.kind == "stream_error":
            frames = [*frames[: first + fault.after], error_frame(wire, fault.message)]
        for frame in frames[: first + fault.after] if fault.kind == "cut" else frames:
            writer.write(_chunk(frame))
            await writer.drain()
        if fault.kind == "cut":
            return False, True
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True, False
