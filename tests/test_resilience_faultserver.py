"""The fault server itself: wire shapes per protocol, scripting, records, clean stop."""

from __future__ import annotations

import contextlib
import json
import socket
import threading

import httpx
import pytest

from router.providers.sse import SSEParser
from tests.faultserver import Fault, FaultServer

pytest_plugins = ["tests.resilience_fixtures"]

PATHS = {"openai": "/chat/completions", "anthropic": "/v1/messages", "ollama": "/api/chat"}


def _url(server: FaultServer, wire: str, target: str = "t") -> str:
    return server.base_url(target, wire).removesuffix("/v1") + (
        "/v1" + PATHS[wire] if wire == "openai" else PATHS[wire]
    )


def _sse_events(lines: list[str]) -> list[tuple[str, str]]:
    p, out = SSEParser(), []
    for line in [*lines, ""]:
        ev = p.feed(line)
        if ev is not None:
            out.append((ev.event, ev.data))
    return out


def test_openai_shapes(faults: FaultServer) -> None:
    with httpx.Client(timeout=2) as c:
        body = c.post(_url(faults, "openai"), json={"model": "m", "messages": []}).json()
        assert body["choices"][0]["message"]["content"] == "Hello from t"
        with c.stream(
            "POST", _url(faults, "openai"), json={"model": "m", "messages": [], "stream": True}
        ) as r:
            assert r.headers["content-type"] == "text/event-stream"
            events = _sse_events(list(r.iter_lines()))
    assert events[-1] == ("message", "[DONE]")
    text = "".join(
        json.loads(d)["choices"][0]["delta"].get("content") or "" for _, d in events[:-1]
    )
    assert text == "Hello from t"


def test_anthropic_stream_has_event_lines_and_error_event(faults: FaultServer) -> None:
    faults.script("t", Fault.ok(), Fault.stream_error(after=1), Fault.http(529))
    body = {"model": "m", "messages": [], "stream": True, "max_tokens": 5}
    with httpx.Client(timeout=2) as c:
        with c.stream("POST", _url(faults, "anthropic"), json=body) as r:
            names = [e for e, _ in _sse_events(list(r.iter_lines()))]
        assert names[0] == "message_start"
        assert "content_block_delta" in names and names[-1] == "message_stop"
        with c.stream("POST", _url(faults, "anthropic"), json=body) as r:
            events = _sse_events(list(r.iter_lines()))
        assert events[-1][0] == "error"
        assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"
        r = c.post(_url(faults, "anthropic"), json={**body, "stream": False})
        assert r.status_code == 529
        assert r.json() == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "injected"},
        }


def test_ollama_streams_ndjson_by_default(faults: FaultServer) -> None:
    with httpx.Client(timeout=2) as c:
        with c.stream("POST", _url(faults, "ollama"), json={"model": "m", "messages": []}) as r:
            assert r.headers["content-type"] == "application/x-ndjson"
            lines = [json.loads(x) for x in r.iter_lines() if x]
        assert lines[-1]["done"] is True and lines[-1]["eval_count"] == 3
        faults.script("t", Fault.stream_error(after=1))
        with c.stream("POST", _url(faults, "ollama"), json={"model": "m", "messages": []}) as r:
            lines = [json.loads(x) for x in r.iter_lines() if x]
        assert lines[-1] == {"error": "injected fault"}


def test_retry_after_variants_and_records(faults: FaultServer) -> None:
    faults.script(
        "t",
        Fault.rate_limit(seconds=2),
        Fault.rate_limit(ms=150),
        Fault.rate_limit(date_in_s=30),
    )
    with httpx.Client(timeout=2) as c:
        hs = [
            c.post(_url(faults, "openai"), json={"model": "m", "messages": []}).headers
            for _ in range(3)
        ]
    assert hs[0]["retry-after"] == "2"
    assert hs[1]["retry-after-ms"] == "150"
    assert hs[2]["retry-after"].endswith("GMT")
    recs = faults.records("t")
    assert [r.fault for r in recs] == ["status"] * 3
    assert all(r.wire == "openai" and r.body["model"] == "m" for r in recs)


@pytest.mark.parametrize(
    "fault, exc",
    [
        (Fault.reset(), httpx.ReadError),
        (Fault.cut(), httpx.RemoteProtocolError),
        (Fault.hang(0.2), httpx.RemoteProtocolError),
    ],
    ids=["reset", "cut", "hang"],
)
def test_transport_faults(faults: FaultServer, fault: Fault, exc: type[Exception]) -> None:
    faults.script("t", fault)
    with httpx.Client(timeout=2) as c, pytest.raises(exc):
        c.post(_url(faults, "openai"), json={"model": "m", "messages": []})


def test_stops_cleanly_with_a_hanging_client() -> None:
    before = threading.active_count()
    server = FaultServer().start()
    server.default("t", Fault.hang())
    port = server.port
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /t/v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
    for _ in range(100):
        if server.records():
            break
        threading.Event().wait(0.01)
    server.stop()
    with contextlib.suppress(ConnectionResetError):  # closed or reset: gone either way
        assert sock.recv(10) == b""
    sock.close()
    assert threading.active_count() == before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5)
