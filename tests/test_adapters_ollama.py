"""Ollama native adapter details the conformance suite does not reach."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from router.errors import InvalidRequestError, ProviderUnavailable
from router.providers import Endpoint, adapter_for
from router.providers.ollama import OllamaStreamDecoder
from router.types import ChatRequest

EP = Endpoint(
    base_url="", model_id="llama3.2", extra_body={"keep_alive": "10m", "options": {"num_ctx": 8192}}
)


def build(messages: list[dict[str, Any]], stream: bool = False, **params: Any) -> dict[str, Any]:
    http = adapter_for("ollama").build_request(
        EP, ChatRequest(messages=messages, **params), stream=stream
    )
    assert http.url == "http://localhost:11434/api/chat"
    assert "authorization" not in http.headers
    return http.json


def test_options_format_and_explicit_stream() -> None:
    b = build(
        [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=64,
        temperature=0.1,
        top_p=0.8,
        seed=5,
        stop="END",
        response_format={"type": "json_object"},
    )
    assert b["stream"] is False
    assert b["options"] == {
        "num_ctx": 8192,
        "num_predict": 64,
        "temperature": 0.1,
        "top_p": 0.8,
        "seed": 5,
        "stop": ["END"],
    }
    assert b["keep_alive"] == "10m" and b["format"] == "json"
    assert b["messages"][0] == {"role": "system", "content": "Be brief."}
    assert build([{"role": "user", "content": "Hi"}], stream=True)["stream"] is True


def test_images_travel_as_base64() -> None:
    b = build(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is it?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                ],
            }
        ]
    )
    assert b["messages"][0] == {"role": "user", "content": "What is it?", "images": ["/9j/4AAQ"]}


def test_response_finish_and_created() -> None:
    a = adapter_for("ollama")
    raw = {
        "model": "llama3.2",
        "created_at": "2026-11-29T21:00:00.123456789Z",
        "message": {"role": "assistant", "content": "cut"},
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 3,
        "eval_count": 4,
    }
    resp = a.parse_response(json.dumps(raw).encode())
    assert resp.choices[0].finish_reason == "length"
    assert resp.created == int(datetime(2026, 11, 29, 21, 0, tzinfo=UTC).timestamp())
    assert resp.usage is not None and resp.usage.total_tokens == 7


def test_calls_without_ids_get_stable_ones() -> None:
    raw = json.dumps(
        {
            "model": "m",
            "created_at": "2026-11-29T21:00:00Z",
            "done": True,
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
            },
        }
    )
    a = adapter_for("ollama")
    (one,) = a.parse_response(raw.encode()).choices[0].message.tool_calls or []
    (two,) = a.parse_response(raw.encode()).choices[0].message.tool_calls or []
    assert one.id == two.id and one.id.startswith("call_")
    assert json.loads(one.function.arguments) == {"a": 1}


def test_stream_skips_blank_lines_and_needs_done() -> None:
    d = OllamaStreamDecoder()
    out = d.feed(
        '{"model":"m","created_at":"2026-11-29T21:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false}'
    )
    out += d.feed("")
    with pytest.raises(ProviderUnavailable, match="before completion"):
        d.close()
    assert out[0].delta_text == "Hi"


def test_model_not_found_is_invalid_request() -> None:
    err = adapter_for("ollama").parse_error(
        404, {}, b'{"error":"model \\"nope\\" not found, try pulling it first"}'
    )
    assert isinstance(err, InvalidRequestError) and "not found" in err.message
