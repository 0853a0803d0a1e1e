"""A fast fake OpenAI-compatible server for the benchmarks.

Raw asyncio protocol, HTTP/1.1 keep-alive, precomputed replies: the server's
own cost per request is a few microseconds, so what the benchmark measures is
the client. Any ``POST`` gets a small ``chat.completion`` JSON reply, or, when
the body asks for ``"stream": true``, a 20-chunk SSE stream followed by a
usage chunk and ``[DONE]`` (22 events, chunked transfer encoding).

Run: ``python -m benchmarks.fake_server [--port 0] [--cpu N]``; it prints
``PORT <n>`` on stdout once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

__all__ = ["JSON_REPLY", "STREAM_REPLY", "main"]

MODEL = "bench-model"
N_CHUNKS = 20


def _json_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench0000000000000000000001",
            "object": "chat.completion",
            "created": 1767225600,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Your order shipped yesterday and should arrive on Friday.",
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 96,
                "completion_tokens": 14,
                "total_tokens": 110,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        },
        separators=(",", ":"),
    ).encode()


def _stream_events() -> list[bytes]:
    text = "Your order shipped yesterday from our Rotterdam warehouse and the carrier "
    text += "expects to deliver it on Friday before noon at the latest ."
    words = text.split(" ")
    base = {
        "id": "chatcmpl-bench0000000000000000000002",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
    }
    events = []
    for i in range(N_CHUNKS):
        delta: dict[str, object] = {"content": ("" if i == 0 else " ") + words[i % len(words)]}
        if i == 0:
            delta["role"] = "assistant"
        finish = "stop" if i == N_CHUNKS - 1 else None
        chunk = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        events.append(chunk)
    usage = {
        **base,
        "choices": [],
        "usage": {"prompt_tokens": 96, "completion_tokens": N_CHUNKS, "total_tokens": 116},
    }
    events.append(usage)
    out = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    out.append(b"data: [DONE]\n\n")
    return out


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


_BODY = _json_body()
JSON_REPLY = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: application/json\r\n"
    b"content-length: %d\r\n"
    b"connection: keep-alive\r\n"
    b"\r\n%s" % (len(_BODY), _BODY)
)
STREAM_REPLY = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
    b"connection: keep-alive\r\n"
    b"\r\n" + _chunked(_stream_events())
)
_BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_MAX_HEAD = 64 * 1024


class _Http(asyncio.Protocol):
    """One connection: parse request heads and bodies, answer each with a canned reply."""

    def __init__(self) -> None:
        self._t: asyncio.Transport | None = None
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._t = transport

    def data_received(self, data: bytes) -> None:
        assert self._t is not None
        buf = self._buf + data if self._buf else data
        while True:
            end_head = buf.find(b"\r\n\r\n")
            if end_head < 0:
                if len(buf) > _MAX_HEAD:
                    self._t.write(_BAD)
                    self._t.close()
                    return
                break
            head = buf[:end_head].lower()
            length = 0
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17 : j if j >= 0 else None])
            elif b"\r\ntransfer-encoding:" in head:
                self._t.write(_BAD)  # chunked uploads: no client here sends them
                self._t.close()
                return
            stop = end_head + 4 + length
            if len(buf) < stop:
                break
            body = buf[end_head + 4 : stop]
            buf = buf[stop:]
            streaming = b'"stream":true' in body or b'"stream": true' in body
            self._t.write(STREAM_REPLY if streaming else JSON_REPLY)
        self._buf = buf


def pin(cpu: int | None) -> int | None:
    """Pin this process to ``cpu`` where the OS allows; the CPU pinned to, or None."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return None
    return cpu


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", port, backlog=1024)
    sock = server.sockets[0]
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = ap.parse_args(argv)
    pin(args.cpu)
    asyncio.run(_serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
