"""Every real try reaches the observer: started and ended once each, with its outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router import AsyncRouter, Router
from router.telemetry.observer import Observer
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config

pytest_plugins = ["tests.resilience_fixtures"]


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []

    def attempt_started(self, call: Any, step: Any) -> Any:
        self.events.append(("start", step.target.name, None))
        return step.target.name

    def attempt_ended(self, call: Any, step: Any, token: Any, **kw: Any) -> None:
        assert token == step.target.name
        err = kw.get("error")
        self.events.append(("end", step.target.name, type(err).__name__ if err else None))


def _chat(cfg: dict[str, Any], mode: str, stream: bool, rec: Recorder) -> None:
    if mode == "sync":
        with Router(cfg) as r:
            r._executor.observer = rec
            if stream:
                with r.stream(MESSAGES, model="r") as s:
                    list(s)
            else:
                r.chat(MESSAGES, model="r")
        return

    async def go() -> None:
        async with AsyncRouter(cfg) as r:
            r._executor.observer = rec
            if stream:
                async with r.stream(MESSAGES, model="r") as s:
                    [c async for c in s]
            else:
                await r.chat(MESSAGES, model="r")

    asyncio.run(go())


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_observer_sees_each_try(faults: FaultServer, mode: str, stream: bool) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        breaker={"failures": 2, "cooldown_s": 60},
    )
    faults.default("a", Fault.http(503))
    rec = Recorder()
    _chat(cfg, mode, stream, rec)
    assert rec.events == [
        ("start", "a", None),
        ("end", "a", "ProviderUnavailable"),
        ("start", "a", None),
        ("end", "a", "ProviderUnavailable"),
        ("start", "b", None),
        ("end", "b", None),
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_observer_sees_both_hedged_tries(faults: FaultServer, mode: str) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        route={"hedge_after_ms": 30},
        timeout={"connect_s": 2, "read_s": 2, "write_s": 2, "pool_s": 2},
    )
    faults.default("a", Fault.ok(delay_s=0.4))
    rec = Recorder()
    _chat(cfg, mode, False, rec)
    assert sorted(rec.events) == sorted(
        [("start", "a", None), ("start", "b", None), ("end", "b", None), ("end", "a", None)]
    )
