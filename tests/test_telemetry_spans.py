"""Spans: the route span, attempt spans, GenAI attributes, fallbacks, streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx
from opentelemetry.trace import SpanKind, StatusCode

from router import AsyncRouter, Router
from router.config import load_dict
from router.errors import ProviderUnavailable
from router.telemetry import observer_for
from router.telemetry import semconv as sc
from router.telemetry.tracing import TracingObserver
from tests.telemetry_support import (
    CLOUD_URL,
    LOCAL_URL,
    Otel,
    completion,
    error_body,
    make_config,
    new_call,
    sse,
    sse_response,
)

pytest_plugins = ["tests.telemetry_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
MSG = [{"role": "user", "content": "Say hi"}]


def test_success_route_and_attempt_span(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(
        return_value=httpx.Response(200, json=completion("smol-135m", cached=5))
    )
    r = Router(make_config(), **otel.providers)
    resp = r.chat(MSG, max_tokens=20, temperature=0.5, top_p=0.9, context={"tenant": "acme"})
    route = otel.span("route default")
    chat = otel.span("chat smol-135m")
    assert route.kind is SpanKind.INTERNAL and chat.kind is SpanKind.CLIENT
    assert chat.parent is not None and chat.parent.span_id == route.context.span_id
    a = chat.attributes
    assert a[sc.OPERATION_NAME] == "chat"
    assert a[sc.PROVIDER_NAME] == "vllm"
    assert a[sc.REQUEST_MODEL] == "smol-135m"
    assert a[sc.RESPONSE_MODEL] == "smol-135m"
    assert a[sc.REQUEST_MAX_TOKENS] == 20
    assert a[sc.REQUEST_TEMPERATURE] == 0.5
    assert a[sc.REQUEST_TOP_P] == 0.9
    assert a[sc.REQUEST_STREAM] is False
    assert tuple(a[sc.RESPONSE_FINISH_REASONS]) == ("stop",)
    assert a[sc.USAGE_INPUT_TOKENS] == 12
    assert a[sc.USAGE_OUTPUT_TOKENS] == 3
    assert a[sc.USAGE_CACHE_READ_INPUT_TOKENS] == 5
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert a[sc.SERVER_PORT] == 9301
    assert a[sc.ATTEMPT] == 1
    assert sc.ERROR_TYPE not in a
    assert sc.INPUT_MESSAGES not in a and sc.OUTPUT_MESSAGES not in a  # capture is off
    ra = route.attributes
    assert ra[sc.ROUTE] == "default"
    assert ra[sc.DECISION_ID] == resp.route.decision_id
    assert ra[sc.SENSITIVITY] == "internal"
    assert tuple(ra[sc.PLAN]) == ("small", "big")
    assert ra[sc.EXCLUDED_COUNT] == 0
    assert ra[sc.TARGET] == "small" and ra[sc.ZONE] == "local"
    assert ra[sc.COST_USD] == resp.route.cost_usd
    assert ra[sc.ATTEMPTS] == 1
    assert ra[sc.TENANT] == "acme"
    assert route.status.status_code is not StatusCode.ERROR


def test_fallback_is_an_event_and_a_second_attempt(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(return_value=error_body(503, "overloaded"))
    mock.post(CLOUD_URL).mock(return_value=httpx.Response(200, json=completion("gpt-x")))
    r = Router(make_config(), **otel.providers)
    resp = r.chat(MSG)
    assert resp.route.target == "big"
    failed = otel.span("chat smol-135m")
    ok = otel.span("chat gpt-x")
    assert failed.attributes[sc.ERROR_TYPE] == "ProviderUnavailable"
    assert failed.status.status_code is StatusCode.ERROR
    assert ok.attributes[sc.ATTEMPT] == 2
    assert ok.attributes[sc.FALLBACK_REASON] == "ProviderUnavailable"
    assert ok.attributes[sc.PROVIDER_NAME] == "openai"
    assert ok.attributes[sc.SERVER_PORT] == 9302
    route = otel.span("route default")
    events = [e for e in route.events if e.name == sc.EVENT_FALLBACK]
    assert len(events) == 1
    assert events[0].attributes[sc.FALLBACK_FROM] == "small"
    assert events[0].attributes[sc.FALLBACK_TO] == "big"
    assert route.attributes[sc.ATTEMPTS] == 2
    assert route.attributes[sc.COST_USD] > 0


def test_total_failure_marks_route_span(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(return_value=error_body(503, "down"))
    r = Router(make_config(), **otel.providers)
    with pytest.raises(ProviderUnavailable):
        r.chat(MSG, model="solo")
    route = otel.span("route solo")
    assert route.status.status_code is StatusCode.ERROR
    assert route.attributes[sc.ERROR_TYPE] == "ProviderUnavailable"
    assert sc.TARGET not in route.attributes


def test_stream_attempt_span_spans_the_whole_stream(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(
        return_value=httpx.Response(
            200,
            content=sse("smol-135m", ["Hel", "lo"]),
            headers={"content-type": "text/event-stream"},
        )
    )
    r = Router(make_config(), **otel.providers)
    with r.stream(MSG) as s:
        text = "".join(c.delta_text for c in s)
    assert text == "Hello"
    chat = otel.span("chat smol-135m")
    assert chat.attributes[sc.REQUEST_STREAM] is True
    assert chat.attributes[sc.USAGE_OUTPUT_TOKENS] == 4
    assert tuple(chat.attributes[sc.RESPONSE_FINISH_REASONS]) == ("stop",)
    assert [e.name for e in chat.events] == [sc.EVENT_FIRST_CHUNK]
    assert len(otel.points(sc.METRIC_TIME_TO_FIRST_CHUNK)) == 1


def test_stream_closed_early_is_cancelled_not_error(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(
        return_value=httpx.Response(
            200,
            content=sse("smol-135m", ["a", "b", "c"]),
            headers={"content-type": "text/event-stream"},
        )
    )
    r = Router(make_config(), **otel.providers)
    with r.stream(MSG) as s:
        for _ in s:
            break
    route = otel.span("route default")
    assert route.attributes[sc.ERROR_TYPE] == "cancelled"
    assert route.status.status_code is not StatusCode.ERROR


async def test_async_streams_interleaved_keep_their_parents(
    otel: Otel, mock: respx.MockRouter
) -> None:
    mock.post(LOCAL_URL).mock(
        return_value=httpx.Response(
            200, content=sse("smol-135m", ["x", "y"]), headers={"content-type": "text/event-stream"}
        )
    )
    r = AsyncRouter(make_config(), **otel.providers)
    s1 = r.stream(MSG)
    s2 = r.stream(MSG)
    async with s1, s2:
        it1, it2 = s1.__aiter__(), s2.__aiter__()
        await it1.__anext__()
        await it2.__anext__()
        async for _ in it2:
            pass
        async for _ in it1:
            pass
    routes = {s.context.span_id: s for s in otel.spans() if s.name == "route default"}
    chats = [s for s in otel.spans() if s.name == "chat smol-135m"]
    assert len(routes) == 2 and len(chats) == 2
    parents = {c.parent.span_id for c in chats if c.parent is not None}
    assert parents == set(routes)
    for c in chats:
        assert routes[c.parent.span_id].attributes[sc.DECISION_ID]  # type: ignore[union-attr]
        assert c.context.trace_id == routes[c.parent.span_id].context.trace_id  # type: ignore[union-attr]


def test_no_sdk_means_no_state(mock: respx.MockRouter) -> None:
    """With only the API (proxy providers), hooks return at once and keep nothing."""
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    r = Router(make_config())
    from router.telemetry.tracing import _KEY

    # OpenTelemetry's API is loaded (by this module): the tracing observer is built at once.
    obs = observer_for(r.config)
    assert isinstance(obs, TracingObserver)
    call = new_call(r, MSG)
    obs.request_started(call)
    assert _KEY not in call.extra
    assert obs.attempt_started(call, call.walker.next()) is None  # type: ignore[arg-type]


def test_telemetry_disabled_uses_the_noop_observer(otel: Otel, mock: respx.MockRouter) -> None:
    from router.telemetry.observer import Observer

    assert type(observer_for(load_dict(make_config(enabled=False)))) is Observer
    # Providers passed to a router whose telemetry is off get nothing.
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    with Router(make_config(enabled=False), **otel.providers) as r:
        r.chat(MSG)
        mock.post(LOCAL_URL).mock(return_value=sse_response("smol-135m", ["a", "b"]))
        with r.stream(MSG) as s:
            assert "".join(c.delta_text for c in s) == "ab"
    assert otel.spans() == []
    assert otel.points(sc.METRIC_ATTEMPTS) == otel.points(sc.METRIC_OPERATION_DURATION) == []


def test_breaker_skip_is_an_event_and_a_fallback(otel: Otel) -> None:
    """Outcomes recorded without a send (breaker_open, skipped) become span events."""
    from router.execution.walker import Send
    from router.types import Attempt

    r = Router(make_config())
    obs = TracingObserver(r.config, **otel.providers)
    call = new_call(r, MSG)
    obs.request_started(call)
    small, big = call.decision.plan
    call.walker.attempts.append(
        Attempt(target="small", outcome="breaker_open", zone="local", provider="gpu")
    )
    step = Send(big, 1, None)
    token = obs.attempt_started(call, step)
    call.walker.attempts.append(Attempt(target="big", outcome="ok", zone="frontier"))
    obs.attempt_ended(call, step, token, response=None, error=ProviderUnavailable("x"))
    obs.request_ended(call, error=ProviderUnavailable("x"))
    route = otel.span("route default")
    assert [e.name for e in route.events] == [sc.EVENT_SKIPPED, sc.EVENT_FALLBACK]
    skipped = route.events[0].attributes
    assert skipped[sc.TARGET] == "small" and skipped[sc.OUTCOME] == "breaker_open"
    assert route.events[1].attributes[sc.FALLBACK_REASON] == "breaker_open"
    chat = otel.span("chat gpt-x")
    assert chat.attributes[sc.FALLBACK_REASON] == "breaker_open"
    outcomes = {p.attributes[sc.OUTCOME] for p in otel.points(sc.METRIC_ATTEMPTS)}
    assert outcomes == {"breaker_open", "ok"}
    assert small.name == "small"


def test_hooks_never_raise(otel: Otel) -> None:
    r = Router(make_config())
    obs = TracingObserver(r.config, **otel.providers)
    call = new_call(r, MSG)
    obs.request_started(call)
    call.walker.attempts.append(None)  # type: ignore[arg-type]  # a corrupt record
    obs.request_ended(call, error=RuntimeError("x"))  # must not raise


def test_hedged_try_that_loses_is_cancelled_not_failed(otel: Otel) -> None:
    """Hedging runs a second try while the first is in flight; the loser is abandoned."""
    from router.execution.walker import Send
    from router.types import Attempt, ChatResponse, Choice, ChoiceMessage, Usage

    r = Router(make_config())
    obs = TracingObserver(r.config, **otel.providers)
    call = new_call(r, MSG)
    obs.request_started(call)
    small, big = call.decision.plan
    a, b = Send(small, 1, None), Send(big, 1, None)
    ta = obs.attempt_started(call, a)
    tb = obs.attempt_started(call, b)  # a hedge: ``a`` is still running
    resp = ChatResponse(
        model="gpt-x",
        choices=[Choice(message=ChoiceMessage(content="hi"), finish_reason="stop")],
        usage=Usage(prompt_tokens=1, completion_tokens=1),
    )
    call.walker.attempts.append(Attempt(target="big", outcome="ok", zone="frontier"))
    obs.attempt_ended(call, b, tb, response=resp)
    call.walker.attempts.append(Attempt(target="small", outcome="cancelled", zone="local"))
    obs.attempt_ended(call, a, ta)
    obs.request_ended(call, response=resp)
    loser = otel.span("chat smol-135m")
    winner = otel.span("chat gpt-x")
    assert loser.attributes[sc.ERROR_TYPE] == "cancelled"
    assert loser.status.status_code is not StatusCode.ERROR
    assert winner.attributes[sc.HEDGE] is True and sc.FALLBACK_REASON not in winner.attributes
    route = otel.span("route default")
    assert [e.name for e in route.events] == [sc.EVENT_HEDGE]
    assert otel.points(sc.METRIC_FALLBACKS) == []


def test_tracing_starts_once_opentelemetry_is_in_use() -> None:
    """A router made before OpenTelemetry is loaded traces once a provider is installed."""
    code = """
import json, sys, httpx, respx, router
cfg, url, reply = json.loads(sys.stdin.read())
r = router.Router(cfg)
assert not any(m.startswith("opentelemetry") for m in sys.modules)
with respx.mock:
    respx.post(url).mock(return_value=httpx.Response(200, json=reply))
    r.chat([{"role": "user", "content": "before"}])  # nothing can record yet
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    r.chat([{"role": "user", "content": "after"}])
print(" ".join(sorted(s.name.split()[0] for s in exporter.get_finished_spans())))
"""
    payload = json.dumps([make_config(), LOCAL_URL, completion("smol-135m")])
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        input=payload,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["chat", "route"]


def test_a_provider_variable_set_later_is_seen_at_once() -> None:
    """``otel_in_use`` reads the environment on every call, through whatever ``os.environ`` is."""
    code = """
import os, sys
from router.telemetry import otel_in_use
assert not any(m.startswith("opentelemetry") for m in sys.modules)
seen = [otel_in_use()]
os.environ["OTEL_PYTHON_METER_PROVIDER"] = "sdk"
seen.append(otel_in_use())
del os.environ["OTEL_PYTHON_METER_PROVIDER"]
seen.append(otel_in_use())
real, os.environ = os.environ, {"OTEL_PYTHON_TRACER_PROVIDER": "sdk"}
seen.append(otel_in_use())
os.environ = real
seen.append(otel_in_use())
print(*seen)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_PYTHON_")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True", "False", "True", "False"]
