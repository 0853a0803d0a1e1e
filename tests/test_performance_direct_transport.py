"""The router sends through httpx transports directly; what httpx.Client did is kept.

Default headers, the compact JSON body, proxies from the environment, line
splitting of streamed bodies, and the memos and ids of the hot path.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from router import Router, __version__
from router.config import load_dict
from router.execution.http import env_proxy
from router.ids import new_id
from router.policy import Policy
from router.providers.lines import LineSplitter
from router.types import ChatRequest

REPLY = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.seen.append({"target": self.path, "headers": dict(self.headers), "body": body})
        out = json.dumps(REPLY).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"p": {"kind": "vllm", "base_url": base_url}},
        "models": {"m": {"provider": "p", "model": "served-model"}},
    }


def test_request_carries_what_httpx_client_would_send(
    recorder: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = recorder
    with Router(_config(url + "/v1")) as r:
        resp = r.chat([{"role": "user", "content": "héllo"}], model="m", max_tokens=5)
    assert resp.content == "ok"
    (req,) = seen
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert req["target"] == "/v1/chat/completions"
    assert headers["host"] == url.removeprefix("http://")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == f"llm-policy-router/{__version__}"
    assert "gzip" in headers["accept-encoding"]
    assert int(headers["content-length"]) == len(req["body"])
    # Compact UTF-8 JSON, as httpx's json= encodes it.
    assert "héllo".encode() in req["body"] and b", " not in req["body"]
    assert json.loads(req["body"])["max_tokens"] == 5


def test_proxy_from_the_environment_is_used(
    recorder: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, seen = recorder
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)
    # The upstream host never resolves: only the proxy on 127.0.0.1 is contacted.
    with Router(_config("http://upstream.invalid/v1")) as r:
        assert r.chat([{"role": "user", "content": "hi"}], model="m").content == "ok"
    (req,) = seen
    assert req["target"] == "http://upstream.invalid/v1/chat/completions"


def test_env_proxy_honours_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:3128")
    monkeypatch.setenv("no_proxy", "internal.example,localhost")
    assert env_proxy("http://api.example.com/v1") == "http://127.0.0.1:3128"
    assert env_proxy("http://gpu.internal.example:8000/v1") is None
    assert env_proxy("http://user:pw@localhost:8000/v1") is None
    assert env_proxy("https://api.example.com/v1") is None  # no https proxy set
    monkeypatch.delenv("http_proxy")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    assert env_proxy("http://api.example.com/v1") is None


_LINE = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=12
)


@given(
    lines=st.lists(_LINE, max_size=8),
    ends=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=8, max_size=8),
    last_terminated=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_line_splitter_matches_whole_body_splitting(
    lines: list[str], ends: list[str], last_terminated: bool, cuts: list[int]
) -> None:
    body = "".join(line + end for line, end in zip(lines, ends, strict=False))
    if lines and not last_terminated and lines[-1]:
        body = body[: -len(ends[len(lines) - 1])]
    raw = body.encode()
    # Any cut of the bytes (even inside a character or a CRLF) gives the same lines.
    points = sorted({c for c in cuts if c < len(raw)})
    parts = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    split = LineSplitter()
    got: list[str] = []
    for part in parts:
        got += split.feed(part)
    got += split.flush()
    expected = re.split(r"\r\n|\r|\n", body)
    if not expected[-1]:
        expected.pop()  # the body ended with a line break (or is empty)
    assert got == expected


def test_line_splitter_keeps_blank_lines_between_events() -> None:
    split = LineSplitter()
    assert split.feed(b"data: a\r\n\r") == ["data: a"]
    assert split.feed(b"\ndata: b\n\n") == ["", "data: b", ""]
    assert split.flush() == []
    assert split.feed(b"last\r") == [] and split.flush() == ["last"]


def _policy() -> Policy:
    return Policy(
        load_dict(
            {
                "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
                "models": {"m": {"provider": "p", "model": "x"}},
                "sensitivity": {"detect": [{"detector": "email", "level": "confidential"}]},
            }
        )
    )


def test_classification_memo_gives_the_same_answer_and_keeps_no_text() -> None:
    policy = _policy()
    texts = ["write to ann@example.com", "nothing here", "and bob@example.org, ann@example.com"]
    first = policy.classify(texts)
    assert first == (policy.level_index("confidential"), {"email": 3})
    assert policy.classify(texts) == first
    assert policy.classify(texts[1:2]) == (-1, {})
    assert all(isinstance(k, bytes) and len(k) == 16 for k in policy._seen)


def test_classification_memo_is_bounded() -> None:
    policy = _policy()
    for i in range(5000):
        policy.classify([f"message {i}"])
    assert 0 < len(policy._seen) <= 4096
    assert policy.classify(["mail me: x@example.com"])[1] == {"email": 1}


def test_classification_joins_only_messages_an_adapter_merges() -> None:
    policy = _policy()
    # Consecutive user turns are one turn on Anthropic's and Gemini's wire.
    merged = ChatRequest(
        messages=[  # type: ignore[list-item]
            {"role": "user", "content": "ann@"},
            {"role": "user", "content": "example.com"},
        ]
    )
    assert policy.decide(merged, model="m").sensitivity.detectors == {"email": 1}
    # A user turn and the assistant's reply are apart on every wire.
    apart = ChatRequest(
        messages=[  # type: ignore[list-item]
            {"role": "user", "content": "ann@"},
            {"role": "assistant", "content": "example.com"},
        ]
    )
    assert policy.decide(apart, model="m").sensitivity.detectors == {}


def _child_id(q: Any) -> None:
    q.put(new_id())


def test_ids_are_unique_and_a_forked_child_draws_a_new_prefix() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 32 for i in ids)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_id, args=(q,))
    p.start()
    child = q.get(timeout=10)
    p.join(timeout=10)
    assert child[:16] != new_id()[:16]


@respx.mock
def test_gzip_bodies_are_decoded_for_replies_and_streams() -> None:
    url = "http://127.0.0.1:9/v1/chat/completions"
    events = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        for piece in ("Hel", "lo")
    ]
    sse = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events) + "data: [DONE]\r\n\r\n"
    gz = {"content-encoding": "gzip"}
    respx.post(url).mock(
        side_effect=[
            httpx.Response(200, headers=gz, content=gzip.compress(json.dumps(REPLY).encode())),
            httpx.Response(
                200,
                headers={**gz, "content-type": "text/event-stream"},
                content=gzip.compress(sse.encode()),
            ),
        ]
    )
    with Router(_config("http://127.0.0.1:9/v1")) as r:
        assert r.chat([{"role": "user", "content": "hi"}], model="m").content == "ok"
        with r.stream([{"role": "user", "content": "hi"}], model="m") as s:
            text = "".join(c.delta_text for c in s)
    assert text == "Hello"
