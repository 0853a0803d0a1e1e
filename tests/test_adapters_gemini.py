"""Gemini adapter details the conformance suite does not reach."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.errors import InvalidRequestError, ProviderUnavailable, RateLimitError
from router.providers import Endpoint, adapter_for
from router.providers.gemini import PLACEHOLDER_SIGNATURE, GeminiAdapter, GeminiStreamDecoder
from router.types import ChatRequest

EP = Endpoint(base_url="", model_id="models/gemini-2.5-flash", api_key="AIza-KEY")
HI = [{"role": "user", "content": "Hi"}]


def build(messages: list[dict[str, Any]], ep: Endpoint = EP, stream: bool = False, **params: Any):  # type: ignore[no-untyped-def]
    return adapter_for("gemini").build_request(
        ep, ChatRequest(messages=messages, **params), stream=stream
    )


def test_url_header_and_model_prefix() -> None:
    http = build(HI)
    assert http.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert http.headers["x-goog-api-key"] == "AIza-KEY"
    s = build(HI, Endpoint(base_url="http://127.0.0.1:9", model_id="m", api_version="v1"), True)
    assert s.url == "http://127.0.0.1:9/v1/models/m:streamGenerateContent?alt=sse"


def test_generation_config_and_tool_config() -> None:
    tools = [{"type": "function", "function": {"name": "f", "description": "d"}}]
    b = build(
        HI,
        Endpoint(base_url="", model_id="m", default_max_tokens=300),
        temperature=0.2,
        top_p=0.5,
        stop=["END"],
        seed=3,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_object"},
    ).json
    assert b["generationConfig"] == {
        "maxOutputTokens": 300,
        "temperature": 0.2,
        "topP": 0.5,
        "seed": 3,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
    }
    assert b["tools"] == [{"functionDeclarations": [{"name": "f", "description": "d"}]}]
    assert b["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }


def test_foreign_history_gets_the_placeholder_signature_and_plain_results() -> None:
    b = build(
        [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_a", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "call_b", "function": {"name": "g", "arguments": '{"x":1}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "plain text"},
            {"role": "tool", "tool_call_id": "call_b", "content": '{"ok": true}'},
        ]
    ).json
    model, results = b["contents"][1], b["contents"][2]
    assert model["parts"][0]["thoughtSignature"] == PLACEHOLDER_SIGNATURE
    assert "thoughtSignature" not in model["parts"][1]
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "f", "response": {"result": "plain text"}}},
            {"functionResponse": {"name": "g", "response": {"ok": True}}},
        ],
    }


def test_tool_result_for_an_unknown_call_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="unknown call"):
        build([*HI, {"role": "tool", "tool_call_id": "nope", "content": "x"}])


def _resp(parts: list[dict[str, Any]], reason: str = "STOP", **extra: Any) -> bytes:
    return json.dumps(
        {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason}],
            "responseId": "r1",
            **extra,
        }
    ).encode()


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("SPII", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("MAX_TOKENS", "length"),
        ("STOP", "stop"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    resp = adapter_for("gemini").parse_response(_resp([{"text": "x"}], reason))
    assert resp.choices[0].finish_reason == finish


def test_thoughts_are_skipped_and_counted_as_output() -> None:
    resp = adapter_for("gemini").parse_response(
        _resp(
            [{"text": "thinking...", "thought": True}, {"text": "Answer"}],
            usageMetadata={
                "promptTokenCount": 10,
                "candidatesTokenCount": 2,
                "thoughtsTokenCount": 30,
                "totalTokenCount": 42,
            },
        )
    )
    assert resp.content == "Answer"
    assert resp.usage is not None
    assert (resp.usage.completion_tokens, resp.usage.reasoning_tokens) == (32, 30)


def test_blocked_prompt_is_a_filtered_empty_answer() -> None:
    resp = adapter_for("gemini").parse_response(
        json.dumps({"promptFeedback": {"blockReason": "SAFETY"}}).encode()
    )
    assert resp.choices[0].finish_reason == "content_filter" and resp.content == ""
    with pytest.raises(ProviderUnavailable):
        adapter_for("gemini").parse_response(b"{}")


def test_call_ids_are_stable_and_distinct() -> None:
    raw = _resp(
        [
            {"functionCall": {"name": "f", "args": {"a": 1}}},
            {"functionCall": {"name": "f", "args": {"a": 1}}},
        ]
    )
    a = adapter_for("gemini")
    first = a.parse_response(raw).choices[0].message.tool_calls
    again = GeminiAdapter().parse_response(raw).choices[0].message.tool_calls
    assert first is not None and again is not None
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == 2
    assert a.parse_response(raw).choices[0].finish_reason == "tool_calls"


def test_stream_and_response_give_the_same_call_ids() -> None:
    a = adapter_for("gemini")
    raw = _resp([{"functionCall": {"name": "f", "args": {"a": 1}}}])
    (call,) = a.parse_response(raw).choices[0].message.tool_calls or []
    d = a.stream_decoder()
    chunks = d.feed("data: " + raw.decode()) + d.feed("") + d.close()
    tc = chunks[0].choices[0].delta.tool_calls
    assert tc is not None and tc[0].id == call.id


def test_clean_end_after_finish_is_not_truncation() -> None:
    d = GeminiStreamDecoder()
    out = d.feed(
        'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}],'
        '"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}'
    )
    out += d.feed("") + d.close()
    assert d.done and out[-1].usage is not None and out[-1].usage.total_tokens == 2
    cut = GeminiStreamDecoder()
    cut.feed('data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}')
    cut.feed("")
    with pytest.raises(ProviderUnavailable, match="before completion"):
        cut.close()


def test_retry_delay_from_error_details() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "slow down",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    err = adapter_for("gemini").parse_error(429, {}, json.dumps(body).encode())
    assert isinstance(err, RateLimitError) and err.retry_after_s == 12
