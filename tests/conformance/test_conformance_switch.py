"""Moving a route between providers is one line of config and no application code.

The same application function — a tool loop, then a JSON-schema call — runs
against OpenAI, Claude, Gemini, a local Ollama and Azure; the configs differ
in one line, and the application gets the same answer from each.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest
import yaml
from wire_drivers import (
    FINAL,
    JSON_OBJ,
    PORT,
    RESPONSE_FORMAT,
    TOOLS,
    ModelLikeFake,
    mock_everything,
)

import router

HOST = f"http://127.0.0.1:{PORT}"

# Every provider and model is declared once; the route names the one in use.
CATALOG = f"""\
providers:
  openai: {{kind: openai, base_url: "{HOST}/v1", api_key: sk-test}}
  claude: {{kind: anthropic, base_url: "{HOST}", api_key: sk-ant-test}}
  google: {{kind: gemini, base_url: "{HOST}", api_key: AIza-test}}
  local:  {{kind: ollama, base_url: "{HOST}"}}
  azure:  {{kind: azure_openai, base_url: "{HOST}", api_key: az-test}}
models:
  gpt:    {{provider: openai, model: gpt-4.1}}
  sonnet: {{provider: claude, model: claude-sonnet-4-5}}
  flash:  {{provider: google, model: gemini-2.5-flash}}
  llama:  {{provider: local, model: llama3.2}}
  azure-gpt: {{provider: azure, model: gpt-41-prod}}
routes:
  assistant:
    candidates: [MODEL]
"""

# The smallest form of the claim: the provider's kind line is all that changes.
ONE_PROVIDER = f"""\
providers:
  llm:
    kind: KIND
    base_url: "{HOST}"
    api_key: test-key
models:
  chat: {{provider: llm, model: chat-model}}
routes:
  assistant:
    candidates: [chat]
"""

TOOL_RESULTS = {"get_weather": {"temp_c": 21, "sky": "sunny"}, "get_time": {"time": "14:05"}}


def run_tool(name: str, arguments: str) -> str:
    json.loads(arguments)  # the app gets well-formed JSON arguments from every provider
    return json.dumps(TOOL_RESULTS[name])


def application(r: router.Router) -> tuple[str | None, dict[str, Any], str]:
    """Application code: written once, never changed when the route moves."""
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    resp = r.chat(history, model="assistant", tools=TOOLS)
    while resp.choices[0].message.tool_calls:
        msg = resp.choices[0].message
        history.append(msg.model_dump(exclude_none=True))
        for tc in msg.tool_calls or ():
            history.append(
                {
                    "role": "tool",
                    "tool_call_id": tc.id,
                    "content": run_tool(tc.function.name, tc.function.arguments),
                }
            )
        resp = r.chat(history, model="assistant", tools=TOOLS)
    report = r.chat(
        [{"role": "user", "content": "Paris weather as JSON"}],
        model="assistant",
        response_format=RESPONSE_FORMAT,
    )
    assert report.content is not None and report.route is not None
    return resp.content, json.loads(report.content), report.route.provider


async def application_async(r: router.AsyncRouter) -> tuple[str | None, dict[str, Any]]:
    """The same application, asyncio flavour."""
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    resp = await r.chat(history, model="assistant", tools=TOOLS)
    while resp.choices[0].message.tool_calls:
        msg = resp.choices[0].message
        history.append(msg.model_dump(exclude_none=True))
        for tc in msg.tool_calls or ():
            content = run_tool(tc.function.name, tc.function.arguments)
            history.append({"role": "tool", "tool_call_id": tc.id, "content": content})
        resp = await r.chat(history, model="assistant", tools=TOOLS)
    report = await r.chat(
        [{"role": "user", "content": "Paris weather as JSON"}],
        model="assistant",
        response_format=RESPONSE_FORMAT,
    )
    assert report.content is not None
    return resp.content, json.loads(report.content)


def one_line_apart(a: str, b: str) -> bool:
    diff = [
        line
        for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return len(diff) == 2


MOVES = {
    "gpt": "openai",
    "sonnet": "anthropic",
    "flash": "gemini",
    "llama": "ollama",
    "azure-gpt": "azure_openai",
}


@pytest.mark.parametrize("model", list(MOVES))
def test_moving_a_route_is_one_line(model: str) -> None:
    text = CATALOG.replace("MODEL", model)
    assert one_line_apart(CATALOG.replace("MODEL", "gpt"), text) or model == "gpt"
    fake = ModelLikeFake()
    with mock_everything(fake), router.Router(yaml.safe_load(text)) as r:
        answer, data, provider = application(r)
    assert answer == FINAL
    assert data == JSON_OBJ
    # Tool call, tool answer, JSON: every request went to the provider the route names.
    driver_name = MOVES[model] if MOVES[model] != "openai" else "openai_compatible"
    assert fake.served == [driver_name] * 3
    assert (
        provider
        == {
            "gpt": "openai",
            "sonnet": "claude",
            "flash": "google",
            "llama": "local",
            "azure-gpt": "azure",
        }[model]
    )


@pytest.mark.parametrize("kind", ["openai_compatible", "anthropic", "gemini", "ollama"])
async def test_changing_the_provider_kind_line(kind: str) -> None:
    text = ONE_PROVIDER.replace("KIND", kind)
    assert one_line_apart(ONE_PROVIDER.replace("KIND", "openai_compatible"), text) or (
        kind == "openai_compatible"
    )
    fake = ModelLikeFake()
    with mock_everything(fake):
        with router.Router(yaml.safe_load(text)) as r:
            sync_result = application(r)[:2]
        async with router.AsyncRouter(yaml.safe_load(text)) as ar:
            async_result = await application_async(ar)
    assert sync_result == async_result == (FINAL, JSON_OBJ)
    assert set(fake.served) == {kind}


def _router(model: str) -> router.Router:
    return router.Router(yaml.safe_load(CATALOG.replace("MODEL", model)))


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("flash", "sonnet"),
        ("sonnet", "flash"),
        ("llama", "gpt"),
        ("flash", "gpt"),
        ("gpt", "llama"),
    ],
)
def test_a_conversation_can_move_mid_way(first: str, then: str) -> None:
    """Tool calls issued by one provider are replayed to another in the next turn."""
    fake = ModelLikeFake()
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    with mock_everything(fake):
        with _router(first) as a:
            msg = a.chat(history, model="assistant", tools=TOOLS).choices[0].message
        history.append(msg.model_dump(exclude_none=True))
        for tc in msg.tool_calls or ():
            content = run_tool(tc.function.name, tc.function.arguments)
            history.append({"role": "tool", "tool_call_id": tc.id, "content": content})
        with _router(then) as b:
            final = b.chat(history, model="assistant", tools=TOOLS)
    assert final.content == FINAL
    assert len(fake.served) == 2 and fake.served[0] != fake.served[1]


def test_fallback_from_an_overloaded_claude_to_gemini() -> None:
    """Anthropic's 529 is retryable: the route falls back to the next planned provider."""
    text = CATALOG.replace("MODEL", "sonnet, flash")
    fake = ModelLikeFake(failing=frozenset({"anthropic"}))
    with mock_everything(fake), router.Router(yaml.safe_load(text)) as r:
        answer, data, provider = application(r)
    assert (answer, data, provider) == (FINAL, JSON_OBJ, "google")
    assert fake.served[:2] == ["anthropic", "gemini"]
    assert set(fake.served) == {"anthropic", "gemini"}
