"""Anthropic adapter details the conformance suite does not reach."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.assemble import Assembler
from router.errors import (
    InvalidRequestError,
    ProviderUnavailable,
    RateLimitError,
)
from router.providers import Endpoint, adapter_for
from router.providers.anthropic import AnthropicStreamDecoder
from router.types import ChatRequest

EP = Endpoint(base_url="", model_id="claude-sonnet-4-5", api_key="sk-ant-KEY")


def body(messages: list[dict[str, Any]], ep: Endpoint = EP, **params: Any) -> dict[str, Any]:
    req = ChatRequest(messages=messages, **params)
    return adapter_for("anthropic").build_request(ep, req, stream=False).json


def test_defaults_host_version_and_key_header() -> None:
    http = adapter_for("anthropic").build_request(
        EP, ChatRequest(messages=[{"role": "user", "content": "Hi"}]), stream=False
    )
    assert http.url == "https://api.anthropic.com/v1/messages"
    assert http.headers["x-api-key"] == "sk-ant-KEY"
    assert http.headers["anthropic-version"] == "2023-06-01"
    assert "sk-ant-KEY" not in repr(http)


def test_base_url_given_with_v1_is_not_doubled() -> None:
    ep = Endpoint(base_url="http://127.0.0.1:9/v1/", model_id="m")
    http = adapter_for("anthropic").build_request(
        ep, ChatRequest(messages=[{"role": "user", "content": "Hi"}]), stream=False
    )
    assert http.url == "http://127.0.0.1:9/v1/messages"


def test_same_role_turns_merge_and_system_is_top_level() -> None:
    b = body(
        [
            {"role": "system", "content": "Rule one."},
            {"role": "user", "content": "Part one."},
            {"role": "developer", "content": "Rule two."},
            {"role": "user", "content": "Part two."},
        ]
    )
    assert b["system"] == "Rule one.\n\nRule two."
    assert b["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Part one."},
                {"type": "text", "text": "Part two."},
            ],
        }
    ]


def test_parameters_map_and_unsupported_ones_are_dropped() -> None:
    b = body(
        [{"role": "user", "content": "Hi"}],
        temperature=1.6,
        top_p=0.9,
        stop="END",
        seed=7,
        user="u-42",
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice="required",
    )
    assert b["temperature"] == 1.0  # Anthropic's range ends at 1
    assert b["top_p"] == 0.9 and b["stop_sequences"] == ["END"]
    assert "seed" not in b
    assert b["metadata"] == {"user_id": "u-42"}
    assert b["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert b["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice(choice: Any, wire: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    b = body([{"role": "user", "content": "Hi"}], tools=tools, tool_choice=choice)
    assert b["tool_choice"] == wire


def test_max_tokens_from_model_default() -> None:
    ep = Endpoint(base_url="", model_id="m", default_max_tokens=1234)
    assert body([{"role": "user", "content": "Hi"}], ep)["max_tokens"] == 1234


def test_json_object_without_schema_is_asked_for_in_the_system_prompt() -> None:
    b = body([{"role": "user", "content": "Hi"}], response_format={"type": "json_object"})
    assert "JSON" in b["system"] and "output_config" not in b


def test_image_data_url_becomes_a_base64_source() -> None:
    b = body(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                ],
            }
        ]
    )
    assert b["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
    }


def test_replayed_tool_call_with_broken_arguments_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        body(
            [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": "{oops"}}],
                },
            ]
        )


def test_response_blocks_and_stop_reasons() -> None:
    a = adapter_for("anthropic")
    raw = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Sorry."},
        ],
        "stop_reason": "refusal",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    resp = a.parse_response(json.dumps(raw).encode())
    assert resp.content == "Sorry."  # thinking is not part of the answer
    assert resp.choices[0].finish_reason == "content_filter"
    raw["stop_reason"] = "max_tokens"
    assert a.parse_response(json.dumps(raw).encode()).choices[0].finish_reason == "length"


def test_malformed_response_is_retryable() -> None:
    with pytest.raises(ProviderUnavailable):
        adapter_for("anthropic").parse_response(b'{"type": "message"}')
    with pytest.raises(ProviderUnavailable):
        adapter_for("anthropic").parse_response(b"<html>")


def sse(*events: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for e in events:
        lines += [f"event: {e['type']}", "data: " + json.dumps(e), ""]
    return lines


def run(decoder: AnthropicStreamDecoder, lines: list[str]) -> list[Any]:
    out = []
    for line in lines:
        out += decoder.feed(line)
    return out + decoder.close()


START = {
    "type": "message_start",
    "message": {"id": "m", "model": "c", "usage": {"input_tokens": 5}},
}


def test_tool_without_input_streams_empty_object() -> None:
    chunks = run(
        AnthropicStreamDecoder(),
        sse(
            START,
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t1", "name": "now", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 4},
            },
            {"type": "message_stop"},
        ),
    )
    args = "".join(
        (tc.function or {}).get("arguments", "")
        for c in chunks
        for ch in c.choices
        for tc in ch.delta.tool_calls or ()
    )
    assert args == "{}"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert chunks[-1].usage.prompt_tokens == 5


def test_unknown_events_are_ignored_and_missing_stop_is_tolerated() -> None:
    d = AnthropicStreamDecoder()
    chunks = run(
        d,
        sse(
            START,
            {"type": "some_future_event", "x": 1},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 1},
            },
        ),
    )
    assert "".join(c.delta_text for c in chunks) == "Hi"
    assert not d.done  # message_stop never came, but the answer had finished
    assert chunks[-1].usage is not None


def test_stream_cut_before_the_end_is_truncated() -> None:
    d = AnthropicStreamDecoder()
    with pytest.raises(ProviderUnavailable) as exc:
        run(
            d,
            sse(
                START,
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": "Hel"},
                },
            ),
        )
    assert exc.value.code == "stream_truncated"


@pytest.mark.parametrize(
    ("kind", "cls", "status"),
    [("overloaded_error", ProviderUnavailable, 529), ("rate_limit_error", RateLimitError, 429)],
)
def test_error_events_raise(kind: str, cls: type[Exception], status: int) -> None:
    d = AnthropicStreamDecoder()
    with pytest.raises(cls) as exc:
        run(d, sse(START, {"type": "error", "error": {"type": kind, "message": "busy"}}))
    assert getattr(exc.value, "status", None) == status


def test_error_body_that_is_not_json() -> None:
    err = adapter_for("anthropic").parse_error(529, {}, b"<html>overloaded</html>")
    assert isinstance(err, ProviderUnavailable) and err.status == 529


def test_tool_results_come_first_in_their_user_turn() -> None:
    b = body(
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "user", "content": "Also, be quick."},
            {"role": "tool", "tool_call_id": "t1", "content": "21C"},
        ]
    )
    assert [blk["type"] for blk in b["messages"][2]["content"]] == ["tool_result", "text"]


@settings(max_examples=60, deadline=None)
@given(
    args=st.dictionaries(
        st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=8), max_size=4
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_input_json_fragments_reassemble_whatever_the_split(
    args: dict[str, Any], cuts: list[int]
) -> None:
    text = json.dumps(args)
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    fragments = [text[a:b] for a, b in itertools.pairwise(points)]
    events = [
        START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": f},
            }
            for f in fragments
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 1},
        },
        {"type": "message_stop"},
    ]
    asm = Assembler()
    for chunk in run(AnthropicStreamDecoder(), sse(*events)):
        asm.add(chunk)
    (call,) = asm.response().choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == args
