"""The gateway cannot loosen its key's policy, never shows a key, continues traces and
writes the audit records the SDK writes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router import AsyncRouter, Router
from router.config.schema import GatewayKey
from router.errors import NoEligibleTarget
from router.gateway.context import HEADERS, BadHeader, request_context
from router.types import RequestContext
from tests.faultserver import Fault, FaultServer
from tests.gateway_support import KEY_ACME, KEY_HOSPITAL, gateway_config, running

pytest_plugins = ["tests.resilience_fixtures"]

LEVELS = ("public", "internal", "confidential", "restricted")
USER = [{"role": "user", "content": "Summarise the patient's notes"}]


# -- a request header can never loosen the key's floor ------------------------------

floats = st.floats(min_value=0, max_value=1e6, allow_nan=False)
header_values = st.one_of(
    st.sampled_from(LEVELS),
    floats.map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=20),
    st.sampled_from(["-1", "0", "100", "101", "1e309", " 5 ", "a,b", "phi, ,x"]),
)


@st.composite
def keys(draw: st.DrawFn) -> GatewayKey:
    context = {
        "sensitivity": draw(st.none() | st.sampled_from(LEVELS)),
        "tags": draw(st.lists(st.sampled_from(["phi", "eu", "beta"]), unique=True, max_size=3)),
        "max_cost_usd": draw(st.none() | floats),
        "min_quality": draw(st.none() | st.floats(0, 100)),
        "deadline_s": draw(st.none() | st.floats(0.01, 600)),
        "metadata": draw(st.dictionaries(st.sampled_from(["team", "app"]), st.text(max_size=5))),
    }
    tenant = draw(st.none() | st.sampled_from(["acme", "hospital"]))
    return GatewayKey(name="k", key="k" * 20, tenant=tenant, context=context)


def _tighter_or_equal(ctx: RequestContext, key: GatewayKey) -> None:
    floor = key.context
    assert ctx.tenant == key.tenant
    assert dict(ctx.metadata) == floor.metadata
    assert set(floor.tags) <= set(ctx.tags)
    if floor.sensitivity is not None:
        assert ctx.sensitivity is not None
        assert LEVELS.index(ctx.sensitivity) >= LEVELS.index(floor.sensitivity)
    if floor.max_cost_usd is not None:
        assert ctx.max_cost_usd is not None and ctx.max_cost_usd <= floor.max_cost_usd
    if floor.min_quality is not None:
        assert ctx.min_quality is not None and ctx.min_quality >= floor.min_quality
    if floor.deadline_s is not None:
        assert ctx.deadline_s is not None and ctx.deadline_s <= floor.deadline_s


@settings(max_examples=400, deadline=None)
@given(
    key=keys(),
    headers=st.dictionaries(st.sampled_from(HEADERS), header_values),
    user=st.none() | st.text(max_size=10) | st.integers(),
)
def test_a_request_header_never_loosens_the_key_floor(
    key: GatewayKey, headers: dict[str, str], user: object
) -> None:
    try:
        ctx = request_context(key, headers, LEVELS, user)
    except BadHeader as e:
        assert e.field in (*HEADERS, "user")
        return
    _tighter_or_equal(ctx, key)


@pytest.fixture(scope="module")
def policy_router(fault_server: FaultServer) -> Router:
    config = gateway_config(fault_server)
    config["rules"].append(
        {"name": "cheap", "when": {"tags": ["beta"]}, "limit": {"max_cost_usd": 0.5}}
    )
    return Router.from_dict(config)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=keys(), headers=st.dictionaries(st.sampled_from(HEADERS), header_values))
def test_headers_never_add_a_target_to_the_keys_plan(
    policy_router: Router, key: GatewayKey, headers: dict[str, str]
) -> None:
    """What the policy admits under the tightened context is within what the floor admits."""
    try:
        ctx = request_context(key, headers, LEVELS)
    except BadHeader:
        return
    floor = request_context(key, {}, LEVELS)

    def plan(c: RequestContext) -> set[str]:
        try:
            return set(policy_router.explain(USER, model="chat", context=c).target_names)
        except NoEligibleTarget:
            return set()

    assert plan(ctx) <= plan(floor)


# -- end to end: a confidential key never reaches the hosted upstream ---------------

LOOSENING = {
    "x-router-sensitivity": "public",
    "x-router-max-cost-usd": "1000",
    "x-router-min-quality": "0",
    "x-router-tags": "public-data",
}


@pytest.fixture(scope="module")
def gw(fault_server: FaultServer) -> Any:
    with running(gateway_config(fault_server)) as server:
        yield server


def test_a_confidential_key_never_reaches_the_hosted_upstream(gw: Any, faults: FaultServer) -> None:
    c = openai.OpenAI(
        base_url=gw.url + "/v1", api_key=KEY_HOSPITAL, max_retries=0, default_headers=LOOSENING
    )
    resp = c.chat.completions.with_raw_response.create(model="chat", messages=USER)
    assert resp.headers["x-router-zone"] == "local"
    for _ in c.chat.completions.create(model="chat", messages=USER, stream=True):
        pass
    # Even when every local attempt fails, nothing falls back to hosted.
    faults.script("local", Fault.http(500), Fault.http(500))
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="chat", messages=USER)
    # Nor through the Anthropic endpoint.
    r = httpx.post(
        gw.url + "/v1/messages",
        json={"model": "chat", "max_tokens": 20, "messages": USER},
        headers={"x-api-key": KEY_HOSPITAL, **LOOSENING},
    )
    assert r.status_code == 200 and r.headers["x-router-zone"] == "local"
    assert faults.count("local") >= 4
    assert faults.count("hosted") == 0


def test_the_same_request_without_the_floor_may_go_hosted(gw: Any, faults: FaultServer) -> None:
    # The control for the test above: under acme's key the route prefers hosted.
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "chat", "messages": USER},
        headers={"authorization": f"Bearer {KEY_ACME}"},
    )
    assert r.headers["x-router-zone"] == "hosted"
    assert faults.count("hosted") == 1


# -- no key anywhere: logs, error bodies, spans --------------------------------------


def test_no_key_in_logs_error_bodies_or_spans(
    fault_server: FaultServer, faults: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    wrong = "sk-wrong-" + KEY_ACME[9:]  # shares most of its characters with a real key
    near = KEY_ACME + "x"
    bodies: list[str] = []
    caplog.set_level(logging.DEBUG)
    with running(gateway_config(fault_server), tracer_provider=tp) as gw:
        url = gw.url + "/v1/chat/completions"
        body = {"model": "chat", "messages": USER}
        for headers in (
            {"authorization": f"Bearer {KEY_ACME}"},
            {"authorization": f"Bearer {wrong}"},
            {"authorization": f"Bearer {near}"},
            {"authorization": f"Basic {KEY_ACME}"},
            {"x-api-key": wrong},
            {"x-api-key": KEY_HOSPITAL},
        ):
            for b in (body, {**body, "stream": True}, {**body, "model": wrong}):
                r = httpx.post(url, json=b, headers=headers)
                bodies.append(r.text + json.dumps(dict(r.headers)))
            for path in ("/v1/models", "/v1/messages"):
                r = httpx.request(
                    "GET" if "models" in path else "POST", gw.url + path, json={}, headers=headers
                )
                bodies.append(r.text + json.dumps(dict(r.headers)))
    tp.shutdown()
    spans = exporter.get_finished_spans()
    assert any(s.name == "POST /v1/chat/completions" for s in spans)
    dumped = [s.to_json() for s in spans]
    logs = [caplog.text, *(str(r.__dict__) for r in caplog.records)]
    assert any('"key":"acme"' in line for line in logs)  # the access log names the key
    for secret in (KEY_ACME, KEY_HOSPITAL, wrong, near, KEY_ACME[9:25]):
        for where, texts in (("bodies", bodies), ("spans", dumped), ("logs", logs)):
            leaked = [t for t in texts if secret in t]
            assert not leaked, f"a key in {where}"
    for r in faults.records():
        assert all(KEY_ACME not in v and wrong not in v for v in r.headers.values())


def test_access_log_has_no_content(
    gw: Any, faults: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.gateway.access")
    secret_text = "my diagnosis is confidential-XYZ"
    httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": secret_text}]},
        headers={"authorization": f"Bearer {KEY_ACME}"},
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "router.gateway.access"]
    assert lines, "no access log line"
    entry = json.loads(lines[-1])
    assert entry["status"] == 200 and entry["key"] == "acme" and entry["tenant"] == "acme"
    assert entry["target"] == "hosted" and entry["decision_id"]
    assert "confidential-XYZ" not in caplog.text


def test_spans_continue_an_incoming_traceparent(fault_server: FaultServer) -> None:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with running(gateway_config(fault_server), tracer_provider=tp) as gw:
        for stream in (False, True):
            exporter.clear()
            r = httpx.post(
                gw.url + "/v1/chat/completions",
                json={"model": "chat", "messages": USER, "stream": stream},
                headers={
                    "authorization": f"Bearer {KEY_ACME}",
                    "traceparent": f"00-{trace_id}-{parent_id}-01",
                },
            )
            assert r.status_code == 200
            # A streamed answer's server span ends just after its last byte is sent.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                spans = exporter.get_finished_spans()
                if any(s.name == "POST /v1/chat/completions" for s in spans):
                    break
                time.sleep(0.01)
            server = next(s for s in spans if s.name == "POST /v1/chat/completions")
            route = next(s for s in spans if s.name.startswith("route "))
            assert f"{server.context.trace_id:032x}" == trace_id
            assert server.parent is not None and f"{server.parent.span_id:016x}" == parent_id
            assert route.context.trace_id == server.context.trace_id
            assert route.parent is not None and route.parent.span_id == server.context.span_id
    tp.shutdown()


# -- the same audit records as the SDK -----------------------------------------------


def _audit(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        for volatile in ("time", "decision_id", "seq", "prev", "hash", "mac", "v"):
            rec.pop(volatile, None)
        rec["attempts"] = [(a.get("target"), a.get("outcome")) for a in rec.get("attempts", [])]
        out.append(rec)
    return out


def test_audit_records_are_the_sdks(
    fault_server: FaultServer, faults: FaultServer, tmp_path: Path
) -> None:
    via_gateway, via_sdk = tmp_path / "gateway.jsonl", tmp_path / "sdk.jsonl"

    def config(path: Path) -> dict[str, Any]:
        return gateway_config(fault_server, telemetry={"audit_log": str(path)})

    headers = {"x-router-tags": "beta", "x-router-user": "u-7"}
    with running(config(via_gateway)) as gw:
        acme = openai.OpenAI(
            base_url=gw.url + "/v1", api_key=KEY_ACME, max_retries=0, default_headers=headers
        )
        acme.chat.completions.create(model="chat", messages=USER)
        for _ in acme.chat.completions.create(model="chat", messages=USER, stream=True):
            pass
        hospital = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY_HOSPITAL, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError):
            hospital.chat.completions.create(model="hosted", messages=USER)

    async def sdk() -> None:
        async with AsyncRouter.from_dict(config(via_sdk)) as r:
            ctx = {"tenant": "acme", "user": "u-7", "tags": ["beta"]}
            await r.chat(USER, model="chat", context=ctx)
            async with r.stream(USER, model="chat", context=ctx) as s:
                async for _ in s:
                    pass
            with pytest.raises(NoEligibleTarget):
                await r.chat(
                    USER,
                    model="hosted",
                    context={"tenant": "hospital", "sensitivity": "confidential", "tags": ["phi"]},
                )

    asyncio.run(sdk())
    got, want = _audit(via_gateway), _audit(via_sdk)
    assert len(got) == 3
    assert [r["outcome"] for r in got] == ["ok", "ok", "denied"]
    assert got == want


def test_access_log_can_be_turned_off(
    fault_server: FaultServer, faults: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.gateway.access")
    config = gateway_config(fault_server)
    config["gateway"]["access_log"] = False
    with running(config) as gw:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "chat", "messages": USER},
            headers={"authorization": f"Bearer {KEY_ACME}"},
        )
        assert r.status_code == 200
    assert not [r for r in caplog.records if r.name == "router.gateway.access"]
