"""Contract test: every request shape the OpenAI-compatible adapter produces is valid
against OpenAI's own chat-completions schema, served by Prism as a validating mock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from router.providers import Endpoint, adapter_for
from router.providers.presets import PRESETS
from router.types import ChatRequest

pytestmark = pytest.mark.contract

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TOOL_TURNS = [
    {"role": "developer", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris and Lyon?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
]

CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "Hi"}]},
    "system_and_params": {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi", "name": "alice"},
        ],
        "max_tokens": 64,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 1,
        "user": "user-42",
    },
    "tools": {
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": TOOLS,
        "tool_choice": "auto",
    },
    "forced_tool": {
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
    "tool_results": {"messages": TOOL_TURNS, "tools": TOOLS},
    "json_schema": {"messages": [{"role": "user", "content": "City?"}], "response_format": SCHEMA},
    "json_object": {
        "messages": [{"role": "user", "content": "JSON please"}],
        "response_format": {"type": "json_object"},
    },
    "image_part": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            }
        ]
    },
}


@pytest.mark.parametrize("preset", ["openai", "vllm", "ollama_openai", "groq"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_request_shapes_pass_the_contract(
    prism_server: str, case: str, stream: bool, preset: str
) -> None:
    adapter = adapter_for(preset)
    endpoint = Endpoint(
        base_url=prism_server,
        model_id="gpt-4.1",
        api_key="sk-contract",
        quirks=PRESETS[preset].quirks,
    )
    req = adapter.build_request(endpoint, ChatRequest.model_validate(CASES[case]), stream=stream)
    headers = dict(req.headers)
    # Prism cannot stream; an SSE Accept makes it fail, so validate the body with JSON accept.
    headers["accept"] = "application/json"
    resp = httpx.post(req.url, headers=headers, json=req.json, timeout=30)
    assert resp.status_code == 200, f"Prism rejected the {case} request: {resp.text[:2000]}"
    if not stream:
        # Prism's example answer must parse through the adapter too.
        parsed = adapter.parse_response(resp.content)
        assert parsed.choices


def test_contract_catches_an_invalid_shape(prism_server: str) -> None:
    # Guards the guard: a tool message without tool_call_id must be refused.
    resp = httpx.post(
        prism_server + "/chat/completions",
        headers={"authorization": "Bearer x"},
        json={"model": "gpt-4.1", "messages": [{"role": "tool", "content": "x"}]},
        timeout=30,
    )
    assert resp.status_code == 422
