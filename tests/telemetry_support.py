"""Helpers of the telemetry tests: a two-target config, wire bodies, an in-memory OTel SDK."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router import AsyncRouter, Router
from router.execution.call import Call
from router.execution.walker import Walker
from router.types import ChatRequest, RequestContext

LOCAL_KEY = "sk-local-TESTKEY-0123456789abcdef"
CLOUD_KEY = "sk-cloud-TESTKEY-fedcba9876543210"
KEYS = (LOCAL_KEY, CLOUD_KEY)
LOCAL_URL = "http://127.0.0.1:9301/v1/chat/completions"
CLOUD_URL = "http://127.0.0.1:9302/v1/chat/completions"


def make_config(**telemetry: Any) -> dict[str, Any]:
    """Two targets: ``small`` (local zone) then ``big`` (frontier), both on 127.0.0.1."""
    return {
        "providers": {
            "gpu": {
                "kind": "vllm",
                "base_url": "http://127.0.0.1:9301/v1",
                "api_key": LOCAL_KEY,
                "zone": "local",
            },
            "cloud": {
                "kind": "openai",
                "base_url": "http://127.0.0.1:9302/v1",
                "api_key": CLOUD_KEY,
                "zone": "frontier",
            },
        },
        "models": {
            "small": {"provider": "gpu", "model": "smol-135m"},
            "big": {
                "provider": "cloud",
                "model": "gpt-x",
                "price": {"input": 1.0, "output": 2.0},
            },
        },
        "routes": {
            "default": {"candidates": ["small", "big"]},
            "solo": {"candidates": ["small"], "fallback": False},
        },
        "rules": [
            {
                "name": "confidential-stays-home",
                "when": {"sensitivity": ">= confidential"},
                "allow": {"zone": ["local"]},
            }
        ],
        "telemetry": {"enabled": True, **telemetry},
    }


def completion(model: str, text: str = "Hello there", *, cached: int = 0) -> dict[str, Any]:
    """An OpenAI chat.completion body."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def sse(model: str, pieces: list[str], *, usage: bool = True) -> bytes:
    """An OpenAI SSE stream body."""
    out = []
    for i, p in enumerate(pieces):
        chunk = {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}],
        }
        if i == 0:
            chunk["choices"][0]["delta"]["role"] = "assistant"
        out.append(chunk)
    out.append(
        {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    if usage:
        out.append(
            {
                "id": "chatcmpl-s",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
            }
        )
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in out) + "data: [DONE]\n\n"
    return body.encode()


def error_body(status: int, msg: str) -> httpx.Response:
    """An OpenAI-style error response."""
    return httpx.Response(status, json={"error": {"message": msg, "type": "server_error"}})


class Providers(TypedDict):
    """``tracer_provider=`` and ``meter_provider=`` of a router."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider


@dataclass
class Otel:
    """An SDK tracer and meter provider that keep everything in memory."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out

    @property
    def providers(self) -> Providers:
        """The router keyword arguments that send its telemetry here."""
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}


def new_call(
    r: Router | AsyncRouter, messages: list[dict[str, Any]], model: str = "default"
) -> Call:
    """A call ``r`` decided and nothing sent: for driving an observer's hooks by hand."""
    decision = r.explain(messages, model=model)
    route = r.config.routes[decision.route]
    request = ChatRequest.model_validate({"messages": messages})
    return Call(request, RequestContext(), decision, route, Walker(decision, route))


def sse_response(model: str, pieces: list[str], *, usage: bool = True) -> httpx.Response:
    """A 200 event-stream response."""
    return httpx.Response(
        200,
        content=sse(model, pieces, usage=usage),
        headers={"content-type": "text/event-stream"},
    )
