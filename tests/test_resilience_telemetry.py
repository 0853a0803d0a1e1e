"""Retries, fallbacks and hedges through the real drivers reach the tracing observer."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

from router import AsyncRouter, Router
from router.telemetry import semconv as sc
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config
from tests.telemetry_support import Otel

pytest_plugins = ["tests.resilience_fixtures", "tests.telemetry_fixtures"]

SLOW = {"connect_s": 2, "read_s": 2, "write_s": 2, "pool_s": 2}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_hedge_spans(faults: FaultServer, otel: Otel, mode: str) -> None:
    cfg = make_config(
        faults, [{"name": "a"}, {"name": "b"}], route={"hedge_after_ms": 30}, timeout=SLOW
    )
    faults.default("a", Fault.ok(delay_s=0.4))
    if mode == "sync":
        with Router(cfg, **otel.providers) as r:
            r.chat(MESSAGES, model="r")
    else:

        async def go() -> None:
            async with AsyncRouter(cfg, **otel.providers) as r:
                await r.chat(MESSAGES, model="r")

        asyncio.run(go())
    loser, winner = otel.span("chat a-model"), otel.span("chat b-model")
    assert loser.attributes is not None and winner.attributes is not None
    assert loser.attributes[sc.ERROR_TYPE] == "cancelled"
    assert loser.status.status_code is not StatusCode.ERROR
    assert winner.attributes[sc.HEDGE] is True
    assert [e.name for e in otel.span("route r").events] == [sc.EVENT_HEDGE]


def test_retry_and_fallback_spans(faults: FaultServer, otel: Otel) -> None:
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])
    faults.default("a", Fault.http(503))
    with Router(cfg, **otel.providers) as r:
        r.chat(MESSAGES, model="r")
    names = [s.name for s in otel.spans()]
    assert names.count("chat a-model") == 2
    assert names.count("chat b-model") == 1
    events = [e.name for e in otel.span("route r").events]
    assert sc.EVENT_FALLBACK in events
