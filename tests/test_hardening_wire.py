"""Hardening against what real servers put on the wire, and a stream's single finish.

Each case is a shape a real server sends (re-expressed from the reports and
from how openai-python, anthropic-sdk-python, ollama-python and LiteLLM treat
it): the router must read it as the SDKs do, or fail it as a provider failure
that falls back — never with a raw ``ValidationError``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import respx

import router
from router import (
    AsyncRouter,
    ProviderUnavailable,
    RateLimitError,
    Router,
    RouterError,
    StreamConsumed,
)
from router.assemble import Assembler
from router.providers import adapter_for
from router.providers.errors_map import error_for_status, retry_after_s
from router.providers.ollama import OllamaStreamDecoder
from router.providers.openai_compatible import OpenAIStreamDecoder
from router.types import ChatChunk

from .helpers import BASE, USER, fixture_json, fixture_text, one_target_config

URL = BASE + "/chat/completions"
URL_B = "http://127.0.0.1:8998/v1/chat/completions"
SSE = {"content-type": "text/event-stream"}
REPLY = fixture_json("openai/chat_completion.json")


def fallback_config() -> dict[str, Any]:
    """Two OpenAI-compatible targets, ``a`` first; one try each, so a failure falls back."""
    once = {"attempts": 1}
    return {
        "providers": {
            "pa": {"kind": "vllm", "base_url": BASE, "retry": once},
            "pb": {"kind": "vllm", "base_url": URL_B.rsplit("/chat", 1)[0], "retry": once},
        },
        "models": {"a": {"provider": "pa", "model": "ma"}, "b": {"provider": "pb", "model": "mb"}},
        "routes": {"default": {"candidates": ["a", "b"]}},
    }


def sse(*chunks: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "served-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


# -- 1. a stream is read, and finished, once -----------------------------------


def audited_config(log: Path) -> dict[str, Any]:
    """:func:`one_target_config` with an audit log: one record each time a call ends."""
    return {**one_target_config(), "telemetry": {"enabled": False, "audit_log": str(log)}}


def outcomes(log: Path) -> list[str]:
    """The outcome of each audit record: a call that ended twice would have two."""
    return [json.loads(x)["outcome"] for x in log.read_text().splitlines()]


def test_stream_consumed_is_an_exported_router_error() -> None:
    assert issubclass(StreamConsumed, RouterError)
    assert "StreamConsumed" in router.__all__


@respx.mock
def test_a_read_stream_iterated_again_raises_and_finishes_once(tmp_path: Path) -> None:
    respx.post(URL).respond(200, text=fixture_text("openai/stream_with_usage.sse"), headers=SSE)
    with Router.from_dict(audited_config(tmp_path / "audit.jsonl")) as r:
        with r.stream(USER) as s:
            text = "".join(c.delta_text for c in s)
            with pytest.raises(StreamConsumed):
                for _ in s:
                    pass
        with pytest.raises(StreamConsumed):
            list(s)
    assert outcomes(tmp_path / "audit.jsonl") == ["ok"]
    assert s.response.content == text == "The capital of France is Paris."


@respx.mock
def test_a_closed_stream_iterated_again_raises_and_never_finishes(tmp_path: Path) -> None:
    respx.post(URL).respond(200, text=fixture_text("openai/stream_with_usage.sse"), headers=SSE)
    with Router.from_dict(audited_config(tmp_path / "audit.jsonl")) as r:
        with r.stream(USER) as s:
            for _ in s:
                break
        with pytest.raises(StreamConsumed):
            list(s)
    # Ended once, when it was closed (without a response): never finished.
    assert outcomes(tmp_path / "audit.jsonl") == ["error"]


@respx.mock
async def test_an_async_stream_iterated_again_raises_and_finishes_once(tmp_path: Path) -> None:
    respx.post(URL).respond(200, text=fixture_text("openai/stream_with_usage.sse"), headers=SSE)
    cfg = audited_config(tmp_path / "audit.jsonl")
    async with AsyncRouter.from_dict(cfg) as r, r.stream(USER) as s:
        text = "".join([c.delta_text async for c in s])
        with pytest.raises(StreamConsumed):
            async for _ in s:
                pass
    assert outcomes(tmp_path / "audit.jsonl") == ["ok"]
    assert s.response.content == text


# -- 2a. "error": null is not an error -----------------------------------------


@respx.mock
def test_stream_chunks_with_a_null_error_field_are_content() -> None:
    route = respx.post(URL).respond(
        200, text=fixture_text("hardening/openai_null_error_stream.sse"), headers=SSE
    )
    with Router.from_dict(one_target_config()) as r, r.stream(USER) as s:
        text = "".join(c.delta_text for c in s)
    assert text == s.response.content == "The capital of France is Paris."
    assert route.call_count == 1
    assert s.response.route is not None
    assert [a.outcome for a in s.response.route.attempts] == ["ok"]


def test_only_a_non_null_error_payload_is_a_failure() -> None:
    dec = OpenAIStreamDecoder()
    assert dec.feed(f"data: {json.dumps({**chunk({'content': 'x'}), 'error': None})}") == []
    assert dec.feed("")[0].delta_text == "x"
    dec.feed('data: {"error": {"message": "overloaded", "type": "server_error"}}')
    with pytest.raises(ProviderUnavailable) as ei:
        dec.feed("")
    assert ei.value.status == 503


# -- 2b. schema deviations: accepted where they mean something, else a fallback ---


@respx.mock
def test_tool_call_arguments_sent_as_an_object_become_a_json_string() -> None:
    respx.post(URL).respond(200, json=fixture_json("hardening/tgi_tool_call_object_arguments.json"))
    with Router.from_dict(one_target_config(kind="tgi")) as r:
        resp = r.chat(USER)
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert isinstance(calls[0].function.arguments, str)
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}


@respx.mock
def test_streamed_tool_call_arguments_sent_as_an_object_become_a_json_string() -> None:
    body = sse(
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
    )
    respx.post(URL).respond(200, text=body, headers=SSE)
    with Router.from_dict(one_target_config(kind="tgi")) as r, r.stream(USER) as s:
        got = [tc for c in s for ch in c.choices for tc in ch.delta.tool_calls or ()]
    assert got and got[0].function == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    calls = s.response.choices[0].message.tool_calls
    assert calls is not None and json.loads(calls[0].function.arguments) == {"city": "Paris"}


@respx.mock
def test_content_as_thinking_and_text_chunks_keeps_the_text() -> None:
    respx.post(URL).respond(200, json=fixture_json("hardening/mistral_thinking_reply.json"))
    with Router.from_dict(one_target_config(kind="mistral")) as r:
        resp = r.chat(USER)
    assert resp.content == "The capital of France is Paris."


@respx.mock
def test_streamed_thinking_and_text_chunks_keep_the_text() -> None:
    respx.post(URL).respond(
        200, text=fixture_text("hardening/mistral_thinking_stream.sse"), headers=SSE
    )
    with Router.from_dict(one_target_config(kind="mistral")) as r, r.stream(USER) as s:
        deltas = [c.delta_text for c in s]
    assert "".join(deltas) == s.response.content == "The capital of France is Paris."
    assert "The user wants" not in "".join(deltas)  # thinking is not the answer


BAD_REPLIES = [
    {"choices": [{"index": 0, "message": {"role": "assistant", "content": {"text": "?"}}}]},
    {"choices": [{"index": "first", "message": {"role": "assistant", "content": "x"}}]},
    {"choices": [{"message": {"tool_calls": [{"type": "function", "function": {}}]}}]},
    {"choices": [], "usage": {"prompt_tokens": "many"}},
]


@pytest.mark.parametrize("bad", BAD_REPLIES, ids=["content", "index", "tool_call", "usage"])
@respx.mock
def test_an_unparseable_reply_is_malformed_and_falls_back(bad: dict[str, Any]) -> None:
    respx.post(URL).respond(200, json=bad)
    respx.post(URL_B).respond(200, json=REPLY)
    with Router.from_dict(fallback_config()) as r:
        resp = r.chat(USER)
    assert resp.content == "The capital of France is Paris."
    assert resp.route is not None and resp.route.target == "b"
    first = resp.route.attempts[0]
    assert (first.target, first.outcome, first.error) == ("a", "error", "ProviderUnavailable")


@respx.mock
def test_an_unparseable_stream_chunk_is_malformed_and_falls_back() -> None:
    bad = sse(chunk({"role": "assistant", "content": {"text": "?"}}))
    respx.post(URL).respond(200, text=bad, headers=SSE)
    respx.post(URL_B).respond(200, text=fixture_text("openai/stream_with_usage.sse"), headers=SSE)
    with Router.from_dict(fallback_config()) as r, r.stream(USER) as s:
        text = "".join(c.delta_text for c in s)
    assert text == "The capital of France is Paris."
    assert s.response.route is not None and s.response.route.target == "b"


def test_an_unparseable_reply_is_provider_unavailable_with_code() -> None:
    with pytest.raises(ProviderUnavailable) as ei:
        adapter_for("openai_compatible").parse_response(json.dumps(BAD_REPLIES[0]).encode())
    assert ei.value.code == "malformed_response"
    assert '"?"' not in str(ei.value)  # the reply's content is not echoed


# -- 2c. parallel tool calls without an index --------------------------------------


@respx.mock
def test_indexless_parallel_tool_calls_with_distinct_ids_stay_apart() -> None:
    respx.post(URL).respond(
        200, text=fixture_text("hardening/gemini_indexless_parallel_tools.sse"), headers=SSE
    )
    with Router.from_dict(one_target_config(kind="openai_compatible")) as r, r.stream(USER) as s:
        for _ in s:
            pass
    calls = s.response.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("function-call-11", "get_weather", {"city": "Paris"}),
        ("function-call-12", "get_weather", {"city": "Rome"}),
        ("function-call-13", "get_time", {"tz": "CET"}),
    ]


def test_fragments_repeating_their_call_id_still_join() -> None:
    asm = Assembler()
    for args in ('{"city":', '"Paris"}'):
        tc = {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": args}}
        asm.add(ChatChunk.model_validate(chunk({"tool_calls": [tc]})))
    calls = asm.response().choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.arguments == '{"city":"Paris"}'


# -- 2d. a refusal has no content ------------------------------------------------------


@respx.mock
def test_a_refusal_only_stream_has_no_content() -> None:
    respx.post(URL).respond(
        200, text=fixture_text("hardening/openai_refusal_stream.sse"), headers=SSE
    )
    with Router.from_dict(one_target_config(kind="openai")) as r, r.stream(USER) as s:
        for _ in s:
            pass
    message = s.response.choices[0].message
    assert message.content is None and s.response.content is None
    assert message.refusal == "I'm sorry, I can't help with that."


@respx.mock
def test_a_refusal_only_reply_has_no_content() -> None:
    reply = json.loads(json.dumps(REPLY))
    reply["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "No."}
    respx.post(URL).respond(200, json=reply)
    with Router.from_dict(one_target_config(kind="openai")) as r:
        resp = r.chat(USER)
    assert resp.content is None and resp.choices[0].message.refusal == "No."


# -- 2e. an event with empty data is skipped ------------------------------------------


def _with_empty_events(body: str) -> str:
    blocks = body.split("\n\n")
    return "\n\n".join([blocks[0], "data:", "data: ", *blocks[1:]])


@respx.mock
def test_sse_events_with_empty_data_are_skipped() -> None:
    body = _with_empty_events(fixture_text("openai/stream_with_usage.sse"))
    respx.post(URL).respond(200, text=body, headers=SSE)
    with Router.from_dict(one_target_config()) as r, r.stream(USER) as s:
        text = "".join(c.delta_text for c in s)
    assert text == "The capital of France is Paris."


@pytest.mark.parametrize("kind", ["openai_compatible", "anthropic", "gemini"])
def test_sse_decoders_skip_empty_data_line_by_line_and_by_bytes(kind: str) -> None:
    for feed_bytes in (False, True):
        dec = adapter_for(kind).stream_decoder()
        body = b"data:\n\ndata: \n\n: keep-alive\n\n"
        if feed_bytes:
            assert dec.feed_bytes(body) == ([], None)
        else:
            assert [c for line in body.decode().split("\n") for c in dec.feed(line)] == []


# -- 2f. Ollama timestamps ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2024-07-05T10:00:19.385406455-07:00", "2024-07-05T17:00:19+00:00"),
        ("2024-07-05T17:00:19.385406455Z", "2024-07-05T17:00:19+00:00"),
        ("2024-07-05T19:00:19.5+02:00", "2024-07-05T17:00:19+00:00"),
    ],
)
def test_ollama_created_at_with_nanoseconds_and_an_offset(created_at: str, expected: str) -> None:
    want = int(datetime.fromisoformat(expected).timestamp())
    line = {
        "model": "llama3.2",
        "created_at": created_at,
        "message": {"role": "assistant", "content": "Hi"},
        "done": False,
    }
    reply = {**line, "done": True, "done_reason": "stop"}
    assert adapter_for("ollama").parse_response(json.dumps(reply).encode()).created == want
    assert OllamaStreamDecoder().feed(json.dumps(line))[0].created == want
    assert datetime.fromtimestamp(want, UTC).isoformat() == expected


def test_ollama_created_at_without_an_offset_is_utc_wherever_the_router_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        line = {"model": "m", "created_at": "2024-07-05T17:00:19.385406455", "done": False}
        created = OllamaStreamDecoder().feed(json.dumps(line))[0].created
    finally:
        monkeypatch.undo()
        time.tzset()
    assert created == int(datetime(2024, 7, 5, 17, 0, 19, tzinfo=UTC).timestamp())


# -- 2g. Retry-After that is not a finite, non-negative number -----------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "-0.5", "soon"])
@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms"])
def test_a_retry_after_that_is_not_a_finite_non_negative_number_is_ignored(
    header: str, value: str
) -> None:
    assert retry_after_s({header: value}) is None
    err = error_for_status(429, "slow down", "rate_limit", {header: value})
    assert isinstance(err, RateLimitError) and err.retry_after_s is None


def test_an_unreadable_retry_after_ms_defers_to_retry_after() -> None:
    assert retry_after_s({"retry-after-ms": "nan", "retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after": "0"}) == 0.0
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    # A date already past is a valid hint: retry now.
    assert retry_after_s({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


# -- 2h. Anthropic server-side fallback: the model that answered -------------------------

ANTHROPIC = "http://127.0.0.1:8997"


def anthropic_config() -> dict[str, Any]:
    return {
        "providers": {"ant": {"kind": "anthropic", "base_url": ANTHROPIC, "api_key": "sk-ant"}},
        "models": {"fable": {"provider": "ant", "model": "claude-fable-5"}},
        "routes": {"default": {"candidates": ["fable"]}},
    }


@respx.mock
def test_anthropic_fallback_reply_names_the_model_that_answered() -> None:
    body = fixture_json("hardening/anthropic_server_fallback.json")
    respx.post(ANTHROPIC + "/v1/messages").respond(200, json=body)
    with Router.from_dict(anthropic_config()) as r:
        resp = r.chat(USER)
    assert resp.model == "claude-opus-4-8"
    assert resp.content == "Port scanning maps open services."


@respx.mock
def test_anthropic_fallback_stream_names_the_model_that_answered() -> None:
    respx.post(ANTHROPIC + "/v1/messages").respond(
        200, text=fixture_text("hardening/anthropic_server_fallback_stream.sse"), headers=SSE
    )
    with Router.from_dict(anthropic_config()) as r, r.stream(USER) as s:
        chunks = list(s)
    assert s.response.model == "claude-opus-4-8"
    assert s.response.content == "Port scanning maps open services."
    assert {c.model for c in chunks if c.delta_text} == {"claude-opus-4-8"}
