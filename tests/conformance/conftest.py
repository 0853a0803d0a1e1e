"""Fixtures of the conformance suite: every scenario runs per driver, sync and async.

Parametrization is generated here rather than by fixture params, so that a
(driver, transport, scenario) combination that cannot exist is never
generated (no skips): each driver lists the transports that serve it and
the scenarios it does not support (see ``wire_drivers``). Tests opt into more
transports with ``@pytest.mark.transports(...)`` (default: respx, and the
embedded engine in process) and into per-case parametrization with
``@pytest.mark.cases(...)`` (the test then takes ``case``); a scenario of one
wire format alone names it with ``@pytest.mark.drivers(...)``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from wire_drivers import DRIVERS, Driver, FakeProvider, FaultServerProvider, mock_http

import router
from router.execution import embedded
from router.types import ChatChunk, ChatResponse
from tests.faultserver import FaultServer

DEFAULT_TRANSPORTS = ("respx", "in_process")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "transports(*names): transports a conformance scenario runs over"
    )
    config.addinivalue_line("markers", "drivers(*names): only these conformance drivers")
    config.addinivalue_line(
        "markers", "cases(*names): sub-scenarios of a conformance test (its `case` argument)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Generate only the applicable (driver, transport[, case]) combinations."""
    if "driver" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("transports")
    wanted = DEFAULT_TRANSPORTS + (marker.args if marker else ())
    cases_marker = metafunc.definition.get_closest_marker("cases")
    only = metafunc.definition.get_closest_marker("drivers")
    scenario = metafunc.function.__name__.removeprefix("test_")
    combos: list[tuple[object, ...]] = []
    ids: list[str] = []
    for d in DRIVERS:
        if only is not None and d.name not in only.args:
            continue
        for t in d.transports:
            if t not in wanted:
                continue
            tid = d.name if t in DEFAULT_TRANSPORTS else f"{d.name}-{t}"
            if cases_marker is None:
                if d.supports(scenario):
                    combos.append((d, t))
                    ids.append(tid)
                continue
            for case in cases_marker.args:
                if d.supports(case):
                    combos.append((d, t, case))
                    ids.append(f"{tid}-{case}")
    names = ["driver", "transport"] + (["case"] if cases_marker else [])
    metafunc.parametrize(names, combos, ids=ids)


@pytest.fixture(scope="session")
def conformance_server() -> Iterator[FaultServer]:
    """The resilience fault server, serving recorded fixtures on a real socket."""
    with FaultServer() as server:
        yield server


@pytest.fixture
def fake(
    driver: Driver, transport: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeProvider]:
    """The provider behind the driver: respx or the fault server for HTTP, a fake Llama
    for embedded."""
    if transport == "in_process":
        f = FakeProvider(driver)
        lock = threading.Lock()
        monkeypatch.setattr(embedded, "_load", lambda t: (f, lock))
        yield f
        return
    if transport == "faultserver":
        server: FaultServer = request.getfixturevalue("conformance_server")
        server.reset()
        f = FaultServerProvider(driver, server)
        try:
            yield f
            assert not f.unused(), f"replies left unused: {len(f.unused())}"
        finally:
            server.reset()
        return
    f = FakeProvider(driver)
    with mock_http(f):
        yield f
    assert not f.unused(), f"replies left unused: {f.unused()}"


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
async def client(mode: str, fake: FakeProvider) -> AsyncIterator[Client]:
    c = Client(fake.driver.config(), mode)
    yield c
    await c.close()
