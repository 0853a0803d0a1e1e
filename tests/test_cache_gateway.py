"""The response cache behind the gateway: hits per key's tenant, streamed hits, headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.faultserver import Fault, FaultServer
from tests.gateway_support import KEY_ACME, KEY_HOSPITAL, GatewayServer, gateway_config, running

pytest_plugins = ["tests.resilience_fixtures"]

ASK = {
    "model": "chat",
    "messages": [{"role": "user", "content": "Opening hours?"}],
    "temperature": 0,
}


@pytest.fixture(scope="module")
def gw(fault_server: FaultServer) -> Iterator[GatewayServer]:
    cfg = gateway_config(fault_server)
    cfg["routes"]["chat"]["cache"] = {"ttl_s": 600}
    with running(cfg) as server:
        yield server


def post(gw: GatewayServer, body: dict[str, Any], key: str) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        content=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        timeout=20,
    )


def test_a_repeated_question_is_answered_from_the_cache(
    gw: GatewayServer, faults: FaultServer
) -> None:
    faults.default("hosted", Fault.ok("Nine to five"))
    faults.default("local", Fault.ok("Nine to five, locally"))
    first = post(gw, ASK, KEY_ACME)
    second = post(gw, ASK, KEY_ACME)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-router-cache"] == "miss"
    assert second.headers["x-router-cache"] == "hit"
    assert float(second.headers["x-router-cost-usd"]) == 0.0
    assert second.json()["choices"] == first.json()["choices"]
    assert faults.count("hosted") == 1
    streamed = post(gw, {**ASK, "stream": True}, KEY_ACME)
    assert streamed.headers["x-router-cache"] == "hit"
    frames = [f[len("data: ") :] for f in streamed.text.split("\n\n") if f]
    assert frames[-1] == "[DONE]"
    text = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in map(json.loads, frames[:-1])
        if c["choices"]
    )
    assert text == "Nine to five"
    assert faults.count("hosted") == 1
    # Another key's tenant (confidential floor: local only) is never served acme's entry.
    other = post(gw, ASK, KEY_HOSPITAL)
    assert other.headers["x-router-cache"] == "miss"
    assert other.json()["choices"][0]["message"]["content"] == "Nine to five, locally"
    assert faults.count("local") == 1
