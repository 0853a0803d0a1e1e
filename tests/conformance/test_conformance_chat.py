"""Non-streaming scenarios, identical for every adapter (sync and async)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Client
from wire_drivers import (
    CALLS,
    FINAL,
    JSON_OBJ,
    RESPONSE_FORMAT,
    SCHEMA,
    TEXT,
    TOOLS,
    Driver,
    FakeProvider,
    Reply,
)

HI = [{"role": "user", "content": "Hi"}]
TOOL_RESULTS = {"get_weather": {"temp_c": 21, "sky": "sunny"}, "get_time": {"time": "14:05"}}


async def test_plain_chat(client: Client, fake: FakeProvider, driver: Driver) -> None:
    fake.queue("text")
    resp = await client.chat(HI)
    assert resp.content == TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.tool_calls is None
    assert resp.usage is not None and not resp.usage.estimated
    u = driver.text_usage
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (u.prompt, u.completion)
    assert resp.usage.total_tokens == u.prompt + u.completion
    assert resp.usage.cached_tokens == u.cached
    assert resp.route is not None and resp.route.target == "m"
    (req,) = fake.requests()
    assert req.system is None
    assert [(t.role, t.text) for t in req.turns] == [("user", "Hi")]
    assert req.tools == [] and req.json_schema is None


async def test_system_prompt(client: Client, fake: FakeProvider) -> None:
    fake.queue("text")
    await client.chat([{"role": "system", "content": "You are terse."}, *HI])
    (req,) = fake.requests()
    assert req.system == "You are terse."
    assert [(t.role, t.text) for t in req.turns] == [("user", "Hi")]


async def test_multi_turn(client: Client, fake: FakeProvider) -> None:
    fake.queue("text")
    await client.chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "What can you do?"},
        ]
    )
    (req,) = fake.requests()
    assert req.system == "Be brief."
    assert [(t.role, t.text) for t in req.turns] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "What can you do?"),
    ]


async def test_max_tokens_sent(client: Client, fake: FakeProvider, driver: Driver) -> None:
    fake.queue("text", "text")
    await client.chat(HI, max_tokens=77)
    await client.chat(HI)
    first, second = fake.requests()
    assert first.max_tokens == 77
    # Anthropic requires max_tokens: the adapter sends its documented default.
    expected = 4096 if driver.kind == "anthropic" else (256 if driver.kind == "embedded" else None)
    assert second.max_tokens == expected


def _answer(resp_message: dict[str, Any]) -> list[dict[str, Any]]:
    """What an application does with tool calls: run them, send results back by id."""
    return [
        {
            "role": "tool",
            "tool_call_id": tc["id"],
            "content": json.dumps(TOOL_RESULTS[tc["function"]["name"]]),
        }
        for tc in resp_message["tool_calls"]
    ]


async def test_tool_call_round_trip(client: Client, fake: FakeProvider, driver: Driver) -> None:
    fake.queue("tool_calls", "tool_final")
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    first = await client.chat(history, tools=TOOLS)

    # The model called both tools (parallel calls), with object arguments
    # turned into OpenAI's JSON strings and a usable id each.
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == CALLS
    assert all(c.id for c in calls) and len({c.id for c in calls}) == 2

    message = first.choices[0].message.model_dump(exclude_none=True)
    history += [message, *_answer(message)]
    final = await client.chat(history, tools=TOOLS)
    assert final.content == FINAL
    assert final.choices[0].finish_reason == "stop"

    req1, req2 = fake.requests()
    assert [name for name, _ in req1.tools] == ["get_weather", "get_time"]
    assert req1.tools[0][1] == TOOLS[0]["function"]["parameters"]
    # The second request replays the assistant's calls and answers each of them.
    assistant = next(t for t in req2.turns if t.role == "assistant")
    assert [(name, args) for _, name, args in assistant.calls] == CALLS
    tool_turns = [t for t in req2.turns if t.role == "tool"]
    results = [r for t in tool_turns for r in t.results]
    refs = [ref for ref, _, _ in assistant.calls]
    assert [ref for ref, _ in results] == refs, "each result answers its own call"
    by_ref = {ref: name for ref, name, _ in assistant.calls}
    assert [(by_ref[ref], json.loads(text)) for ref, text in results] == [
        ("get_weather", TOOL_RESULTS["get_weather"]),
        ("get_time", TOOL_RESULTS["get_time"]),
    ]
    # Parallel results: one user turn where the format merges them, one message each otherwise.
    assert len(tool_turns) == (1 if driver.merges_tool_results else 2)
    roles = [t.role for t in req2.turns]
    assert roles[0] == "user" and roles[-1] == "tool"


@pytest.mark.drivers("gemini")
async def test_gemini_thought_signature_round_trip(client: Client, fake: FakeProvider) -> None:
    """Gemini 3 rejects a replayed function call without its signature: it must come back."""
    fake.queue("tool_calls", "tool_final")
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    first = await client.chat(history, tools=TOOLS)
    message = first.choices[0].message.model_dump(exclude_none=True)
    await client.chat([*history, message, *_answer(message)], tools=TOOLS)
    sent = fake.bodies[1]["contents"][1]["parts"]
    issued = fake.driver.obj("tool_calls")["candidates"][0]["content"]["parts"]
    assert sent[0]["thoughtSignature"] == issued[0]["thoughtSignature"]
    assert "thoughtSignature" not in sent[1]


async def test_json_schema_output(client: Client, fake: FakeProvider) -> None:
    fake.queue("json")
    resp = await client.chat(
        [{"role": "user", "content": "Weather in Paris as JSON"}], response_format=RESPONSE_FORMAT
    )
    assert resp.content is not None and json.loads(resp.content) == JSON_OBJ
    (req,) = fake.requests()
    assert req.json_schema == SCHEMA


async def test_usage_absent_is_estimated(
    client: Client, fake: FakeProvider, driver: Driver
) -> None:
    fake.queue(Reply("text", transform=driver.strip_usage))
    resp = await client.chat(HI)
    assert resp.content == TEXT
    assert resp.usage is not None and resp.usage.estimated
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.route is not None and resp.route.cost_estimated


async def test_unknown_response_fields_ignored(
    client: Client, fake: FakeProvider, driver: Driver
) -> None:
    raw = driver.raw("text")
    assert b"x_unreleased_field" in raw or driver.kind == "azure_openai"
    if driver.kind == "azure_openai":
        assert b"prompt_filter_results" in raw  # Azure's own additions
    fake.queue("text")
    resp = await client.chat(HI)
    assert resp.content == TEXT
