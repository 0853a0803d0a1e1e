"""``/v1/messages``: Anthropic's Messages API inbound, through the official anthropic SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.faultserver import Fault, FaultServer
from tests.gateway_support import (
    KEY_ACME,
    KEY_HOSPITAL,
    KEY_LIMITED,
    GatewayServer,
    gateway_config,
    running,
)

pytest_plugins = ["tests.resilience_fixtures"]

USER: list[Any] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def gw(fault_server: FaultServer) -> Iterator[GatewayServer]:
    with running(gateway_config(fault_server)) as server:
        yield server


def client(gw: GatewayServer, key: str = KEY_ACME) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=20)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in text.split("\n\n")[:-1]:
        head, data = frame.split("\n")
        assert head.startswith("event: ") and data.startswith("data: ")
        payload = json.loads(data[len("data: ") :])
        assert payload["type"] == head[len("event: ") :]
        out.append((payload["type"], payload))
    return out


def test_sdk_message_with_system_prompt(gw: GatewayServer, faults: FaultServer) -> None:
    got = client(gw).messages.with_raw_response.create(
        model="chat", max_tokens=64, system="Be brief.", messages=USER, stop_sequences=["END"]
    )
    msg = got.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello from hosted"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 5 and msg.usage.output_tokens == 4
    assert got.headers["x-router-target"] == "hosted"
    assert got.headers["x-router-decision-id"] and got.headers["x-router-cost-usd"]
    sent = faults.records("hosted")[0].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]
    assert sent["max_tokens"] == 64 and sent["stop"] == ["END"]


def test_sdk_stream_helper(gw: GatewayServer, faults: FaultServer) -> None:
    with client(gw).messages.stream(model="chat", max_tokens=64, messages=USER) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello from hosted"
    assert final.content[0].text == "Hello from hosted"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_event_sequence_bytes(gw: GatewayServer, faults: FaultServer) -> None:
    r = httpx.post(
        gw.url + "/v1/messages",
        json={"model": "chat", "max_tokens": 50, "messages": USER, "stream": True},
        headers={"x-api-key": KEY_ACME, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    kinds = [k for k, _ in sse_events(r.text)]
    n = kinds.count("content_block_delta")
    assert n >= 2
    assert kinds == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * n,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_tools_round_trip(gw: GatewayServer, faults: FaultServer) -> None:
    answer = {
        "id": "chatcmpl-t",
        "object": "chat.completion",
        "created": 1,
        "model": "hosted-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
    }
    faults.script("hosted", Fault.raw(json.dumps(answer).encode()))
    msg = client(gw).messages.create(
        model="chat",
        max_tokens=64,
        messages=USER,
        tools=[TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    use = msg.content[1]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}  # type: ignore[union-attr]
    sent = faults.records("hosted")[0].body
    assert sent["tools"][0]["function"]["parameters"] == TOOL["input_schema"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    # The next turn carries the tool result back.
    client(gw).messages.create(
        model="chat",
        max_tokens=64,
        tools=[TOOL],  # type: ignore[list-item]
        messages=[
            *USER,
            {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"},  # type: ignore[union-attr]
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
    )
    turns = faults.records("hosted")[1].body["messages"]
    assert turns[1]["role"] == "assistant"
    assert turns[1]["tool_calls"][0]["id"] == "call_1"
    assert json.loads(turns[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert turns[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    assert turns[3]["role"] == "user"


def test_streamed_tool_use(gw: GatewayServer, faults: FaultServer) -> None:
    def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "hosted-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(obj)}\n\n".encode()

    start = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "get_weather"}}
    frames = [
        frame({"role": "assistant", "content": "Let me see."}),
        frame({"tool_calls": [start]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        frame({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    faults.script("hosted", Fault.raw_stream(frames, "text/event-stream"))
    with client(gw).messages.stream(
        model="chat",
        max_tokens=64,
        messages=USER,
        tools=[TOOL],  # type: ignore[list-item]
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].text == "Let me see."  # type: ignore[union-attr]
    use = final.content[1]
    assert use.type == "tool_use" and use.id == "call_9"
    assert use.input == {"city": "Oslo"}


def test_errors_are_the_sdks_exception_types(gw: GatewayServer, faults: FaultServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as auth:
        client(gw, "wrong-key-wrong-key-0000").messages.create(
            model="chat", max_tokens=10, messages=USER
        )
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        client(gw, KEY_LIMITED).messages.create(model="chat", max_tokens=10, messages=USER)
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client(gw, KEY_HOSPITAL).messages.create(model="hosted", max_tokens=10, messages=USER)
    assert "no eligible target" in str(denied.value)
    with pytest.raises(anthropic.BadRequestError):
        client(gw).messages.create(
            model="chat", max_tokens=10, messages=USER, extra_body={"top_k": 5}
        )
    r = httpx.post(
        gw.url + "/v1/messages",
        json={"model": "chat", "messages": USER},  # no max_tokens
        headers={"x-api-key": KEY_ACME},
    )
    assert r.status_code == 400
    assert r.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "max_tokens is required (a whole number >= 1)",
        },
    }
    faults.script("hosted", Fault.quota())
    faults.script("local", Fault.quota())
    with pytest.raises(anthropic.RateLimitError):
        client(gw).messages.create(model="chat", max_tokens=10, messages=USER)
    assert faults.count("hosted") == 1


def test_stream_failing_midway_ends_with_an_error_event(
    gw: GatewayServer, faults: FaultServer
) -> None:
    faults.script("hosted", Fault.cut(after=2))
    r = httpx.post(
        gw.url + "/v1/messages",
        json={
            "model": "chat",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "a b c d e"}],
        },
        headers={"x-api-key": KEY_ACME},
    )
    events = sse_events(r.text)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in [k for k, _ in events]
    faults.script("hosted", Fault.cut(after=2))
    stream = client(gw).messages.stream(model="chat", max_tokens=50, messages=USER)
    with pytest.raises(anthropic.APIError), stream as s:
        for _ in s:
            pass


def test_body_limit_applies(fault_server: FaultServer, faults: FaultServer) -> None:
    config = gateway_config(fault_server)
    config["gateway"]["max_body_bytes"] = 2048
    with running(config) as gw:
        big = [{"role": "user", "content": "z" * 4000}]
        with pytest.raises(anthropic.APIStatusError) as e:
            client(gw).messages.create(model="chat", max_tokens=10, messages=big)  # type: ignore[arg-type]
        assert e.value.status_code == 413
        assert e.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
    assert faults.records() == []


def test_an_answer_without_text_is_still_a_whole_sequence(
    gw: GatewayServer, faults: FaultServer
) -> None:
    only_stop = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "hosted-model",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    frames = [f"data: {json.dumps(only_stop)}\n\n".encode(), b"data: [DONE]\n\n"]
    faults.script("hosted", Fault.raw_stream(frames, "text/event-stream"))
    with client(gw).messages.stream(model="hosted", max_tokens=5, messages=USER) as s:
        final = s.get_final_message()
    assert final.content == [] and final.stop_reason == "end_turn"
