"""Fixtures of the conformance suite: every scenario runs per driver, sync and async."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from wire_drivers import DRIVERS, Driver, FakeProvider, mock_http

import router
from router.execution import embedded
from router.types import ChatChunk, ChatResponse


@pytest.fixture(params=DRIVERS, ids=lambda d: d.name)
def driver(request: pytest.FixtureRequest) -> Driver:
    d: Driver = request.param
    return d


@pytest.fixture
def fake(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """The fake provider behind the driver: respx for HTTP, a fake Llama for embedded."""
    f = FakeProvider(driver)
    if driver.kind == "embedded":
        lock = threading.Lock()
        monkeypatch.setattr(embedded, "_load", lambda t: (f, lock))
        yield f
        return
    with mock_http(f):
        yield f
    assert not f.replies, f"replies left unused: {f.replies}"


class Client:
    """The public Router or AsyncRouter behind one awaitable surface."""

    def __init__(self, config: dict[str, Any], mode: str) -> None:
        self.mode = mode
        self._sync = router.Router(config) if mode == "sync" else None
        self._async = router.AsyncRouter(config) if mode == "async" else None

    async def chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResponse:
        if self._sync is not None:
            return self._sync.chat(messages, **params)
        assert self._async is not None
        return await self._async.chat(messages, **params)

    async def stream(
        self, messages: list[dict[str, Any]], **params: Any
    ) -> tuple[list[ChatChunk], ChatResponse]:
        chunks: list[ChatChunk] = []
        if self._sync is not None:
            with self._sync.stream(messages, **params) as s:
                chunks.extend(s)
                return chunks, s.response
        assert self._async is not None
        async with self._async.stream(messages, **params) as s:
            async for c in s:
                chunks.append(c)
            return chunks, s.response

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
        if self._async is not None:
            await self._async.aclose()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    m: str = request.param
    return m


@pytest.fixture
async def client(driver: Driver, mode: str, fake: FakeProvider) -> AsyncIterator[Client]:
    c = Client(driver.config(), mode)
    yield c
    await c.close()
