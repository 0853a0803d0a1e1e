"""Sync and async routers give the same results on the same cases."""

from __future__ import annotations

import time
from typing import Any
from unittest.mock import AsyncMock

import pytest
import respx

from router import AsyncRouter, ProviderUnavailable, RequestContext, Router, UnknownRoute
from router.execution import executor as executor_module

from .helpers import BASE, USER, fixture_json, fixture_text, one_target_config, two_target_config

B = "http://127.0.0.1:8998/v1"
SSE = {"content-type": "text/event-stream"}


def summary(resp: Any) -> tuple[Any, ...]:
    r = resp.route
    return (
        resp.content,
        resp.usage.total_tokens,
        r.target,
        r.zone,
        [(a.target, a.outcome, a.status, a.error) for a in r.attempts],
    )


def run_sync(cfg: dict[str, Any], stream: bool, **kw: Any) -> tuple[Any, ...]:
    with Router.from_dict(cfg) as r:
        if not stream:
            return summary(r.chat(USER, **kw))
        with r.stream(USER, **kw) as s:
            for _ in s:
                pass
        return summary(s.response)


async def run_async(cfg: dict[str, Any], stream: bool, **kw: Any) -> tuple[Any, ...]:
    async with AsyncRouter.from_dict(cfg) as r:
        if not stream:
            return summary(await r.chat(USER, **kw))
        async with r.stream(USER, **kw) as s:
            async for _ in s:
                pass
        return summary(s.response)


@pytest.mark.parametrize("stream", [False, True])
@respx.mock
async def test_same_answer_sync_and_async(stream: bool) -> None:
    if stream:
        respx.post(BASE + "/chat/completions").respond(
            200, text=fixture_text("openai/stream_with_usage.sse"), headers=SSE
        )
    else:
        respx.post(BASE + "/chat/completions").respond(
            200, json=fixture_json("openai/chat_completion.json")
        )
    a = run_sync(one_target_config(), stream)
    b = await run_async(one_target_config(), stream)
    assert a == b
    assert a[0] == "The capital of France is Paris."


@pytest.mark.parametrize("stream", [False, True])
@respx.mock
async def test_fallback_to_the_next_planned_target(stream: bool) -> None:
    respx.post(BASE + "/chat/completions").respond(503, json={"error": {"message": "down"}})
    if stream:
        respx.post(B + "/chat/completions").respond(
            200, text=fixture_text("openai/stream_without_usage.sse"), headers=SSE
        )
    else:
        respx.post(B + "/chat/completions").respond(
            200, json=fixture_json("openai/chat_completion.json")
        )
    a = run_sync(two_target_config(), stream)
    b = await run_async(two_target_config(), stream)
    assert a == b
    assert a[2] == "b"
    assert a[4] == [("a", "error", 503, "ProviderUnavailable"), ("b", "ok", 200, None)]


class _NoSleep:
    """The ``time`` module as the blocking driver sees it, minus the waiting."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        pass


@respx.mock
async def test_same_failure_sync_and_async(monkeypatch: pytest.MonkeyPatch) -> None:
    # b, the last target, is retried twice by default: skip the backoff waits.
    monkeypatch.setattr(executor_module, "time", _NoSleep())
    monkeypatch.setattr(executor_module, "_sleep", AsyncMock())
    respx.post(BASE + "/chat/completions").respond(500, json={"error": {"message": "boom"}})
    respx.post(B + "/chat/completions").respond(502, text="bad gateway")
    errors = []
    with pytest.raises(ProviderUnavailable) as e1:
        run_sync(two_target_config(), False)
    errors.append(e1.value)
    with pytest.raises(ProviderUnavailable) as e2:
        await run_async(two_target_config(), False)
    errors.append(e2.value)
    assert [[(a.target, a.status) for a in e.attempts] for e in errors] == [
        [("a", 500), ("b", 502), ("b", 502), ("b", 502)]
    ] * 2


@respx.mock
def test_route_without_fallback_stops_after_first_target() -> None:
    respx.post(BASE + "/chat/completions").respond(503, json={"error": {"message": "down"}})
    b = respx.post(B + "/chat/completions").respond(
        200, json=fixture_json("openai/chat_completion.json")
    )
    cfg = two_target_config()
    cfg["routes"]["default"]["fallback"] = False
    with Router.from_dict(cfg) as r, pytest.raises(ProviderUnavailable):
        r.chat(USER)
    assert not b.called


@respx.mock
def test_model_name_addresses_one_target_directly() -> None:
    a = respx.post(BASE + "/chat/completions").respond(503)
    b = respx.post(B + "/chat/completions").respond(
        200, json=fixture_json("openai/chat_completion.json")
    )
    with Router.from_dict(two_target_config()) as r:
        resp = r.chat(USER, model="b", context=RequestContext(tenant="t1"))
    assert resp.route is not None and resp.route.target == "b" and resp.route.route == "b"
    assert b.called and not a.called


def test_bad_calls_get_clear_errors() -> None:
    with Router.from_dict(two_target_config()) as r:
        with pytest.raises(UnknownRoute, match="no route or model named 'nope'"):
            r.chat(USER, model="nope")
        with pytest.raises(TypeError, match=r"unknown chat parameter.*frequency"):
            r.chat(USER, frequency=1)
        with pytest.raises(ValueError, match="temperature"):
            r.chat(USER, temperature=9)
        with pytest.raises(ValueError, match="role"):
            r.chat([{"role": "wizard", "content": "x"}])
        with pytest.raises(ValueError):
            r.chat([])
        with pytest.raises(TypeError):
            r.chat("just a string")  # type: ignore[arg-type]


def test_explain_sends_nothing() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(BASE + "/chat/completions")
        with Router.from_dict(two_target_config()) as r:
            d = r.explain(USER)
        assert not route.called
    assert d.target_names == ("a", "b")
    assert "planned" in d.explain()
