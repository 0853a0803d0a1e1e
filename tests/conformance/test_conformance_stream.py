"""Streaming scenarios, identical for every adapter (sync and async)."""

from __future__ import annotations

import json

import pytest
from conftest import Client
from wire_drivers import CALLS, TEXT, TOOLS, Driver, FakeProvider, Reply

from router.errors import ProviderUnavailable, StreamInterrupted

# Streams are served by respx and, over a real socket, by the fault server.
pytestmark = pytest.mark.transports("respx", "faultserver")

HI = [{"role": "user", "content": "Hi"}]


async def test_stream_text(client: Client, fake: FakeProvider, driver: Driver) -> None:
    fake.queue("stream_text")
    chunks, resp = await client.stream(HI)
    assert "".join(c.delta_text for c in chunks) == TEXT
    assert sum(1 for c in chunks if c.delta_text) >= 2, "text arrives in pieces"
    assert resp.content == TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and not resp.usage.estimated
    u = driver.text_usage
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (u.prompt, u.completion)
    (req,) = fake.requests()
    assert [(t.role, t.text) for t in req.turns] == [("user", "Hi")]
    if driver.kind != "gemini":  # Gemini streams by URL; FakeProvider checks that instead
        assert req.stream


async def test_stream_parallel_tool_calls(client: Client, fake: FakeProvider) -> None:
    fake.queue("stream_tools")
    chunks, resp = await client.stream(
        [{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS
    )
    assert any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert resp.choices[0].finish_reason == "tool_calls"
    calls = resp.choices[0].message.tool_calls
    assert calls is not None
    # Two parallel calls, each assembled from its own fragments.
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == CALLS
    assert all(c.id for c in calls) and len({c.id for c in calls}) == 2
    (req,) = fake.requests()
    assert [name for name, _ in req.tools] == ["get_weather", "get_time"]


def _midway_error(driver: Driver) -> Reply:
    if driver.kind == "embedded":
        return Reply("stream_text", error=RuntimeError("decode failed"), fail_after=2)
    return Reply("stream_error")


async def test_error_inside_stream_is_not_content(
    client: Client, fake: FakeProvider, driver: Driver
) -> None:
    """An error event after HTTP 200 fails the stream; its text never becomes content."""
    fake.queue(_midway_error(driver))
    with pytest.raises(StreamInterrupted) as exc:
        await client.stream(HI)
    assert exc.value.text == "Hello!"
    assert "overload" not in exc.value.text.lower() and "error" not in exc.value.text.lower()


def _truncated(driver: Driver) -> bytes:
    raw = driver.raw("stream_text")
    cut = raw.index(b"Hello!")
    # Cut where the connection dropped: right after the event that carried "Hello!".
    sep = b"\n" if driver.stream_ext == "ndjson" else b"\n\n"
    return raw[: raw.index(sep, cut) + len(sep)]


def _cut_code(transport: str) -> str:
    """respx can only end the body early: the adapter misses the terminal event.
    The fault server drops the socket mid-body: the transport sees the cut."""
    return "connection" if transport == "faultserver" else "stream_truncated"


async def test_truncated_stream(
    client: Client, fake: FakeProvider, driver: Driver, transport: str
) -> None:
    """A stream cut after some content: the caller learns it was cut, with what arrived."""
    fake.queue(Reply(body=_truncated(driver), cut=True))
    with pytest.raises(StreamInterrupted) as exc:
        await client.stream(HI)
    assert exc.value.code == _cut_code(transport)
    assert exc.value.text == "Hello!"
    assert exc.value.target == "m" and exc.value.attempts


async def test_stream_cut_before_content_is_unavailable(
    client: Client, fake: FakeProvider, transport: str
) -> None:
    """Cut before any content: a retryable failure, so the router may fall back."""
    fake.queue(Reply(body=b"", cut=True))
    with pytest.raises(ProviderUnavailable) as exc:
        await client.stream(HI)
    assert type(exc.value) is ProviderUnavailable and exc.value.retryable
    assert exc.value.code == _cut_code(transport)
