"""Move a route from OpenAI to Claude, Gemini or a local Ollama: one config line, no code.

The application below uses tools (a weather lookup) and JSON-schema output.
It runs unchanged against five configs that differ only in the route's
``candidates`` line. To stay offline, the script starts a tiny fake server on
127.0.0.1 that answers in each provider's own wire format (OpenAI Chat
Completions, Anthropic Messages, Gemini generateContent, Ollama /api/chat,
Azure OpenAI); point the providers at the real hosts and nothing else changes.

    python examples/switch_providers.py
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

import router

CONFIG = """\
providers:
  openai: {kind: openai, base_url: "http://127.0.0.1:PORT/v1", api_key: sk-demo}
  claude: {kind: anthropic, base_url: "http://127.0.0.1:PORT", api_key: sk-ant-demo}
  google: {kind: gemini, base_url: "http://127.0.0.1:PORT", api_key: AIza-demo}
  local:  {kind: ollama, base_url: "http://127.0.0.1:PORT"}
  azure:  {kind: azure_openai, base_url: "http://127.0.0.1:PORT", api_key: az-demo}
models:
  gpt:       {provider: openai, model: gpt-4.1}
  sonnet:    {provider: claude, model: claude-sonnet-4-5}
  flash:     {provider: google, model: gemini-2.5-flash}
  llama:     {provider: local, model: llama3.2}
  azure-gpt: {provider: azure, model: gpt-41-prod}
routes:
  assistant:
    candidates: [gpt]          # <- the one line to change
"""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
REPORT = {
    "type": "json_schema",
    "json_schema": {
        "name": "report",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
            "required": ["city", "temp_c"],
            "additionalProperties": False,
        },
    },
}


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "temp_c": 21, "sky": "sunny"}


def application(r: router.Router) -> tuple[str | None, dict[str, Any]]:
    """Application code: a tool loop, then structured output. Never edited below."""
    history: list[dict[str, Any]] = [{"role": "user", "content": "What's the weather in Paris?"}]
    resp = r.chat(history, model="assistant", tools=[WEATHER_TOOL])
    while resp.choices[0].message.tool_calls:
        msg = resp.choices[0].message
        history.append(msg.model_dump(exclude_none=True))
        for call in msg.tool_calls or ():
            result = get_weather(**json.loads(call.function.arguments))
            history.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        resp = r.chat(history, model="assistant", tools=[WEATHER_TOOL])
    report = r.chat(
        [{"role": "user", "content": "Paris weather as JSON"}],
        model="assistant",
        response_format=REPORT,
    )
    return resp.content, json.loads(report.content or "{}")


# -- a fake server speaking five wire formats (stands in for the real APIs) ---

ANSWER = "It is 21°C and sunny in Paris."
JSON_TEXT = json.dumps({"city": "Paris", "temp_c": 21})


def _state(path: str, body: dict[str, Any]) -> str:
    """'json', 'final' (a tool result came back), 'call' (tools offered) or 'text'."""
    if path.endswith("/v1/messages"):
        last = body["messages"][-1]["content"]
        answered = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
        wants_json = "output_config" in body
    elif ":generateContent" in path:
        answered = any("functionResponse" in p for p in body["contents"][-1]["parts"])
        wants_json = "responseJsonSchema" in body.get("generationConfig", {})
    else:  # OpenAI, Azure and Ollama all end a tool round with a "tool" message
        answered = body["messages"][-1]["role"] == "tool"
        wants_json = "response_format" in body or "format" in body
    if wants_json:
        return "json"
    if answered:
        return "final"
    return "call" if body.get("tools") else "text"


def _reply(path: str, state: str) -> dict[str, Any]:
    text = {"json": JSON_TEXT, "final": ANSWER, "text": "Hello!"}.get(state, "")
    call = state == "call"
    if path.endswith("/v1/messages"):
        block = (
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Paris"},
            }
            if call
            else {"type": "text", "text": text}
        )
        return {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [block],
            "stop_reason": "tool_use" if call else "end_turn",
            "usage": {"input_tokens": 20, "output_tokens": 10},
        }
    if ":generateContent" in path:
        part = (
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
            if call
            else {"text": text}
        )
        return {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }
    if path.endswith("/api/chat"):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if call:
            message["tool_calls"] = [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
            ]
        return {
            "model": "llama3.2",
            "created_at": "2026-11-29T21:00:00Z",
            "message": message,
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 20,
            "eval_count": 10,
        }
    msg: dict[str, Any] = {"role": "assistant", "content": None if call else text}
    if call:
        msg["tool_calls"] = [
            {
                "id": "call_01",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4.1",
        "choices": [
            {"index": 0, "message": msg, "finish_reason": "tool_calls" if call else "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    }


class FakeProviders(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        out = json.dumps(_reply(self.path, _state(self.path, body))).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProviders)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = CONFIG.replace("PORT", str(server.server_address[1]))
    try:
        for model in ("gpt", "sonnet", "flash", "llama", "azure-gpt"):
            text = base.replace("candidates: [gpt]", f"candidates: [{model}]")
            with router.Router(yaml.safe_load(text)) as r:
                answer, report = application(r)
            print(f"candidates: [{model:9}] -> {answer!r}  {report}")
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
