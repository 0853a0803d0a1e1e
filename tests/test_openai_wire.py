"""Wire-format tests for the OpenAI-compatible adapter, on recorded shapes (REFERENCE.md §1)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from router import (
    AsyncRouter,
    AuthenticationError,
    ContextLengthExceeded,
    InvalidRequestError,
    ProviderUnavailable,
    RateLimitError,
    Router,
    StreamInterrupted,
)
from router.providers.openai_compatible import OpenAIStreamDecoder

from .helpers import BASE, KEY, USER, fixture_json, fixture_text, one_target_config

URL = BASE + "/chat/completions"
SSE = {"content-type": "text/event-stream"}


def sent(route: respx.Route, i: int = -1) -> dict:
    return json.loads(route.calls[i].request.content)


@respx.mock
def test_plain_completion_maps_every_field() -> None:
    route = respx.post(URL).respond(200, json=fixture_json("openai/chat_completion.json"))
    with Router.from_dict(one_target_config()) as r:
        resp = r.chat(USER, max_tokens=50, temperature=0.2, seed=7)
    assert resp.content == "The capital of France is Paris."
    assert resp.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (19, 8)
    assert resp.usage.cached_tokens == 4 and not resp.usage.estimated
    assert resp.route is not None and resp.route.target == "m"
    # 15 fresh input tokens at $1/M + 4 cached at the input price + 8 output at $2/M
    assert resp.route.cost_usd == pytest.approx((15 * 1 + 4 * 1 + 8 * 2) / 1e6)
    body = sent(route)
    assert body["model"] == "served-model"
    assert body["messages"] == USER
    assert body["max_tokens"] == 50 and body["temperature"] == 0.2 and body["seed"] == 7
    assert "stream" not in body
    req = route.calls[0].request
    assert req.headers["authorization"] == f"Bearer {KEY}"


@respx.mock
def test_openai_preset_sends_max_completion_tokens() -> None:
    route = respx.post(URL).respond(200, json=fixture_json("openai/chat_completion.json"))
    with Router.from_dict(one_target_config(kind="openai")) as r:
        r.chat(USER, max_tokens=50)
    body = sent(route)
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


@respx.mock
def test_ollama_openai_preset_drops_tool_choice() -> None:
    route = respx.post(URL).respond(200, json=fixture_json("openai/chat_tool_calls.json"))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with Router.from_dict(one_target_config(kind="ollama_openai")) as r:
        r.chat(USER, tools=tools, tool_choice="auto", max_tokens=10)
    body = sent(route)
    assert "tool_choice" not in body and body["tools"] == tools
    assert body["max_tokens"] == 10


@respx.mock
def test_tool_calls_and_json_schema_request() -> None:
    route = respx.post(URL).respond(200, json=fixture_json("openai/chat_tool_calls.json"))
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "city",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    history = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": '{"ok": true}'},
    ]
    with Router.from_dict(one_target_config()) as r:
        resp = r.chat(history, response_format=schema)
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and [c.function.arguments for c in calls] == [
        '{"city": "Paris"}',
        '{"city": "Lyon"}',
    ]
    assert resp.choices[0].finish_reason == "tool_calls" and resp.content is None
    body = sent(route)
    assert body["response_format"] == schema
    assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "lookup"
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_0",
        "content": '{"ok": true}',
    }


@respx.mock
def test_stream_with_usage_chunk() -> None:
    route = respx.post(URL).respond(
        200, text=fixture_text("openai/stream_with_usage.sse"), headers=SSE
    )
    with Router.from_dict(one_target_config()) as r, r.stream(USER) as s:
        texts = [c.delta_text for c in s]
    assert "".join(texts) == "The capital of France is Paris."
    resp = s.response
    assert resp.content == "The capital of France is Paris."
    assert resp.usage is not None and resp.usage.total_tokens == 27
    assert not resp.usage.estimated
    assert resp.choices[0].finish_reason == "stop"
    body = sent(route)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("fixture", ["stream_without_usage.sse", "stream_llamacpp_usage.sse"])
@respx.mock
def test_stream_usage_absent_or_unasked(fixture: str) -> None:
    respx.post(URL).respond(200, text=fixture_text(f"openai/{fixture}"), headers=SSE)
    with Router.from_dict(one_target_config(kind="llamacpp_server")) as r, r.stream(USER) as s:
        chunks = list(s)
    assert s.response.content == "The capital of France is Paris."
    usage = s.response.usage
    assert usage is not None
    if fixture == "stream_without_usage.sse":
        # No usage in the stream: estimated, flagged, never a crash.
        assert usage.estimated and usage.completion_tokens > 0
    else:
        assert not usage.estimated and usage.prompt_tokens == 19
        assert chunks[-1].choices == []


@respx.mock
def test_stream_tool_call_fragments_are_assembled() -> None:
    respx.post(URL).respond(200, text=fixture_text("openai/stream_tool_calls.sse"), headers=SSE)
    with Router.from_dict(one_target_config()) as r, r.stream(USER) as s:
        for _ in s:
            pass
    calls = s.response.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {"tz": "CET"}),
    ]
    assert s.response.choices[0].finish_reason == "tool_calls"


@respx.mock
def test_error_payload_after_content_interrupts_the_stream() -> None:
    respx.post(URL).respond(200, text=fixture_text("openai/stream_midway_error.sse"), headers=SSE)
    got = []
    with (
        Router.from_dict(one_target_config()) as r,
        r.stream(USER) as s,
        pytest.raises(StreamInterrupted) as ei,
    ):
        for c in s:
            got.append(c.delta_text)
    assert ei.value.text == "The capital"
    assert "".join(got) == "The capital"  # the error payload never became content
    assert ei.value.attempts and ei.value.attempts[0].target == "m"


def test_truncated_stream_is_a_failure_not_an_answer() -> None:
    dec = OpenAIStreamDecoder()
    for line in fixture_text("openai/stream_truncated.sse").splitlines():
        dec.feed(line)
    with pytest.raises(ProviderUnavailable, match="before completion"):
        dec.close()


ERRORS = [
    ("context_length", ContextLengthExceeded),
    ("llamacpp_context", ContextLengthExceeded),
    ("vllm_context", ContextLengthExceeded),
    ("invalid", InvalidRequestError),
    ("not_found", InvalidRequestError),
    ("auth", AuthenticationError),
    ("rate_limit", RateLimitError),
    ("quota", RateLimitError),
    ("server", ProviderUnavailable),
    ("unavailable", ProviderUnavailable),
]


@pytest.mark.parametrize(("name", "exc"), ERRORS)
@respx.mock
def test_error_bodies_map_to_the_exception_tree(name: str, exc: type[Exception]) -> None:
    case = fixture_json("openai/errors.json")[name]
    respx.post(URL).respond(case["status"], json=case["body"], headers=case.get("headers", {}))
    one_try = one_target_config(retry={"attempts": 1})  # the mapping, not the default retries
    with Router.from_dict(one_try) as r, pytest.raises(exc) as ei:
        r.chat(USER)
    err = ei.value
    assert type(err) is exc or issubclass(type(err), exc)
    assert err.status == case["status"]  # type: ignore[attr-defined]
    assert KEY not in str(err) and KEY not in repr(err)
    if name == "rate_limit":
        assert err.retry_after_s == 2.0  # type: ignore[attr-defined]
    if name == "quota":
        assert err.quota_exhausted and not err.retryable  # type: ignore[attr-defined]


def test_retry_after_ms_wins_over_seconds() -> None:
    from router.providers.errors_map import retry_after_s

    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "2"}) == 1.5
    assert retry_after_s(
        {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412480.0 - 10
    ) == pytest.approx(10.0)
    assert retry_after_s({"retry-after": "soon"}) is None


@respx.mock
def test_malformed_json_is_a_provider_failure() -> None:
    respx.post(URL).respond(200, text="{not json", headers={"content-type": "application/json"})
    with Router.from_dict(one_target_config()) as r, pytest.raises(ProviderUnavailable):
        r.chat(USER)


@respx.mock
def test_connection_error_is_unavailable_with_attempt_record() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with Router.from_dict(one_target_config()) as r, pytest.raises(ProviderUnavailable) as ei:
        r.chat(USER)
    assert ei.value.code == "connection"
    # The only target is retried twice by default, as the official SDKs do.
    assert [a.outcome for a in ei.value.attempts] == ["error"] * 3


@respx.mock
async def test_async_router_reads_the_same_wire() -> None:
    respx.post(URL).respond(200, json=fixture_json("openai/chat_completion.json"))
    async with AsyncRouter.from_dict(one_target_config()) as r:
        resp = await r.chat(USER)
    assert resp.content == "The capital of France is Paris."


def test_unknown_extra_fields_are_ignored() -> None:
    from router.providers.openai_compatible import response_from_dict

    data = fixture_json("openai/chat_completion.json")
    data["brand_new_field"] = {"x": 1}
    data["choices"][0]["message"]["audio"] = None
    assert response_from_dict(data).content == "The capital of France is Paris."
