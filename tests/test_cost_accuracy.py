"""What each adapter's usage is billed at: cached reads, cache writes, reasoning.

Replies are in the shapes the providers document (field names and which
counts include which); numbers are invented. Every cost is checked in
``resp.route.cost_usd`` through a :class:`Router`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from router import Router
from router.accounting.pricing import cost_usd, worst_case_cost_usd
from router.config import load_dict
from router.targets import resolve_targets
from router.types import Usage

from .helpers import BASE, KEY, USER

SSE = {"content-type": "text/event-stream"}
HOST = "http://127.0.0.1:8998"
PRICE = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75}


def config(kind: str, base_url: str, price: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "providers": {"p": {"kind": kind, "base_url": base_url, "api_key": KEY}},
        "models": {"m": {"provider": "p", "model": "mdl", "price": price or PRICE}},
        "routes": {"default": {"candidates": ["m"]}},
    }


def sse(*events: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events)


def billed(fresh: int, cached: int, written: int, output: int, p: dict[str, Any] = PRICE) -> float:
    return (
        fresh * p["input"]
        + cached * p["cached_input"]
        + written * p["cache_write"]
        + output * p["output"]
    ) / 1e6


# -- OpenAI-compatible (and Azure): prompt_tokens includes cached_tokens;
# completion_tokens includes reasoning_tokens.

OPENAI_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0},
}
OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "mdl",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": OPENAI_USAGE,
}
OPENAI_COST = billed(86, 1920, 0, 300)


def check_openai(u: Usage | None) -> None:
    assert u is not None and not u.estimated
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (2006, 1920, 0)
    assert (u.completion_tokens, u.reasoning_tokens) == (300, 256)


@respx.mock
def test_openai_cached_input_and_reasoning() -> None:
    respx.post(BASE + "/chat/completions").respond(200, json=OPENAI_REPLY)
    with Router.from_dict(config("openai", BASE)) as r:
        resp = r.chat(USER, max_tokens=400)
    check_openai(resp.usage)
    assert resp.route is not None
    assert resp.route.cost_usd == pytest.approx(OPENAI_COST)


@respx.mock
def test_openai_stream_usage_chunk() -> None:
    text = sse(
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mdl",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Paris."},
                      "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mdl",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mdl",
         "choices": [], "usage": OPENAI_USAGE},
    ) + "data: [DONE]\n\n"  # fmt: skip
    respx.post(BASE + "/chat/completions").respond(200, text=text, headers=SSE)
    with Router.from_dict(config("openai", BASE)) as r, r.stream(USER, max_tokens=400) as s:
        list(s)
    check_openai(s.response.usage)
    assert s.response.route is not None
    assert s.response.route.cost_usd == pytest.approx(OPENAI_COST)


@respx.mock
def test_azure_cached_input_and_reasoning() -> None:
    url = HOST + "/openai/deployments/mdl/chat/completions"
    respx.post(url__startswith=url).respond(200, json=OPENAI_REPLY)
    with Router.from_dict(config("azure_openai", HOST)) as r:
        resp = r.chat(USER, max_tokens=400)
    check_openai(resp.usage)
    assert resp.route is not None
    assert resp.route.cost_usd == pytest.approx(OPENAI_COST)


# -- Anthropic: input_tokens excludes cache reads and writes; output_tokens
# includes thinking.

ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 200,
    "service_tier": "standard",
}
ANTHROPIC_COST = billed(50, 4000, 1000, 200)


def check_anthropic(u: Usage | None) -> None:
    assert u is not None and not u.estimated
    # prompt_tokens in OpenAI's sense: everything the prompt held.
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (5050, 4000, 1000)
    assert (u.completion_tokens, u.total_tokens) == (200, 5250)


@respx.mock
def test_anthropic_cache_reads_and_writes() -> None:
    reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "mdl",
        "content": [{"type": "text", "text": "Paris."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }
    respx.post(HOST + "/v1/messages").respond(200, json=reply)
    with Router.from_dict(config("anthropic", HOST)) as r:
        resp = r.chat(USER, max_tokens=400)
    check_anthropic(resp.usage)
    assert resp.route is not None
    assert resp.route.cost_usd == pytest.approx(ANTHROPIC_COST)


@respx.mock
def test_anthropic_stream_cache_reads_and_writes() -> None:
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    text = "".join(
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n"
        for e in [
            {"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": "mdl",
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": start_usage}},
            {"type": "content_block_start", "index": 0,
             "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": "Paris."}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {"output_tokens": 200}},
            {"type": "message_stop"},
        ]
    )  # fmt: skip
    respx.post(HOST + "/v1/messages").respond(200, text=text, headers=SSE)
    with Router.from_dict(config("anthropic", HOST)) as r, r.stream(USER, max_tokens=400) as s:
        list(s)
    check_anthropic(s.response.usage)
    assert s.response.route is not None
    assert s.response.route.cost_usd == pytest.approx(ANTHROPIC_COST)


def test_anthropic_cache_writes_default_to_the_input_price() -> None:
    price = {"input": 3.0, "output": 15.0}
    (t,) = resolve_targets(load_dict(config("anthropic", HOST, price))).values()
    u = Usage(
        prompt_tokens=5050, completion_tokens=200, cached_tokens=4000, cache_write_tokens=1000
    )
    assert cost_usd(t, u) == pytest.approx((5050 * 3.0 + 200 * 15.0) / 1e6)


# -- Gemini: promptTokenCount includes cachedContentTokenCount; thoughts are
# billed as output but not counted in candidatesTokenCount.

GEMINI_USAGE = {
    "promptTokenCount": 3000,
    "cachedContentTokenCount": 2048,
    "candidatesTokenCount": 120,
    "thoughtsTokenCount": 400,
    "totalTokenCount": 3520,
}
GEMINI_COST = billed(952, 2048, 0, 520)
GEMINI_URL = HOST + "/v1beta/models/mdl:"


def check_gemini(u: Usage | None) -> None:
    assert u is not None and not u.estimated
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (3000, 2048, 0)
    assert (u.completion_tokens, u.reasoning_tokens, u.total_tokens) == (520, 400, 3520)


def gemini_part(text: str, finish: str | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand], "modelVersion": "mdl"}


@respx.mock
def test_gemini_cached_content_and_thoughts() -> None:
    reply = {**gemini_part("Paris.", "STOP"), "usageMetadata": GEMINI_USAGE}
    respx.post(GEMINI_URL + "generateContent").respond(200, json=reply)
    with Router.from_dict(config("gemini", HOST)) as r:
        resp = r.chat(USER, max_tokens=600)
    check_gemini(resp.usage)
    assert resp.route is not None
    assert resp.route.cost_usd == pytest.approx(GEMINI_COST)


@respx.mock
def test_gemini_stream_cached_content_and_thoughts() -> None:
    early = {"promptTokenCount": 3000, "cachedContentTokenCount": 2048, "totalTokenCount": 3000}
    text = sse(
        {**gemini_part("Par"), "usageMetadata": early},
        {**gemini_part("is.", "STOP"), "usageMetadata": GEMINI_USAGE},
    )
    respx.post(GEMINI_URL + "streamGenerateContent").respond(200, text=text, headers=SSE)
    with Router.from_dict(config("gemini", HOST)) as r, r.stream(USER, max_tokens=600) as s:
        list(s)
    check_gemini(s.response.usage)
    assert s.response.route is not None
    assert s.response.route.cost_usd == pytest.approx(GEMINI_COST)


# -- Ollama: no caching fields; prompt_eval_count and eval_count as they are.


@respx.mock
def test_ollama_counts_as_reported() -> None:
    reply = {
        "model": "mdl",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "Paris."},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 26,
        "eval_count": 7,
    }
    respx.post(HOST + "/api/chat").respond(200, json=reply)
    with Router.from_dict(config("ollama", HOST)) as r:
        resp = r.chat(USER, max_tokens=50)
    u = resp.usage
    assert u is not None and not u.estimated
    assert (u.prompt_tokens, u.completion_tokens, u.cached_tokens, u.cache_write_tokens) == (
        26,
        7,
        0,
        0,
    )
    assert resp.route is not None
    assert resp.route.cost_usd == pytest.approx(billed(26, 0, 0, 7))


# -- The worst case a ceiling or budget reserves covers the dearest input rate.


def test_worst_case_prices_input_at_the_dearest_rate() -> None:
    (t,) = resolve_targets(load_dict(config("anthropic", HOST))).values()
    assert worst_case_cost_usd(t, 1000, 100) == pytest.approx((1000 * 3.75 + 100 * 15.0) / 1e6)
    plain = {"input": 3.0, "output": 15.0}
    (t,) = resolve_targets(load_dict(config("anthropic", HOST, plain))).values()
    assert worst_case_cost_usd(t, 1000, 100) == pytest.approx((1000 * 3.0 + 100 * 15.0) / 1e6)
