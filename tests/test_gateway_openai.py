"""The gateway's OpenAI endpoint through the official openai SDK and plain httpx: a real
uvicorn server on 127.0.0.1 in front of the fault server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from router import AsyncRouter
from router.gateway.app import Gateway
from router.gateway.errors import GatewayError
from router.state.aio import AsyncMemoryStore
from tests.faultserver import Fault, FaultServer
from tests.gateway_support import (
    KEY_ACME,
    KEY_HOSPITAL,
    KEY_LIMITED,
    GatewayServer,
    free_port,
    gateway_config,
    running,
)

pytest_plugins = ["tests.resilience_fixtures"]

USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def gw(fault_server: FaultServer) -> Iterator[GatewayServer]:
    with running(gateway_config(fault_server)) as server:
        yield server


def client(gw: GatewayServer, key: str = KEY_ACME) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=20)


def raw(gw: GatewayServer, body: Any, key: str | None = KEY_ACME, **headers: str) -> httpx.Response:
    h = {"authorization": f"Bearer {key}"} if key else {}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    h["content-type"] = "application/json"
    return httpx.post(gw.url + "/v1/chat/completions", content=content, headers=h, timeout=20)


def events(text: str) -> list[str]:
    """The data payloads of an SSE body, checking every event is ``data: ...\\n\\n``."""
    assert text.endswith("\n\n")
    frames = text.split("\n\n")[:-1]
    for f in frames:
        assert f.startswith("data: "), f
        assert "\n" not in f
    return [f[len("data: ") :] for f in frames]


# -- answers ---------------------------------------------------------------------


def test_sync_sdk_json_answer_with_router_headers(gw: GatewayServer, faults: FaultServer) -> None:
    got = client(gw).chat.completions.with_raw_response.create(model="chat", messages=USER)
    resp = got.parse()
    assert resp.choices[0].message.content == "Hello from hosted"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens == 5
    h = got.headers
    assert h["x-router-target"] == "hosted" and h["x-router-zone"] == "hosted"
    assert len(h["x-router-decision-id"]) >= 8
    # hosted costs 1 $/M input, 2 $/M output: 5 input and 4 output tokens.
    assert float(h["x-router-cost-usd"]) == pytest.approx((5 * 1.0 + 4 * 2.0) / 1e6)
    assert [r.target for r in faults.records()] == ["hosted"]
    sent = faults.records("hosted")[0].body
    assert sent["messages"] == USER and sent["model"] == "hosted-model"


async def test_async_sdk_stream_with_include_usage(gw: GatewayServer, faults: FaultServer) -> None:
    c = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=KEY_ACME, max_retries=0)
    async with c:
        resp = await c.chat.completions.with_raw_response.create(
            model="chat", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        assert resp.headers["x-router-target"] == "hosted"
        assert resp.headers["x-router-zone"] == "hosted"
        assert "x-router-cost-usd" not in resp.headers
        chunks = [ch async for ch in resp.parse()]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "Hello from hosted"
    assert [ch.usage is None for ch in chunks] == [True] * (len(chunks) - 1) + [False]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert len({ch.id for ch in chunks}) == 1


def test_sse_bytes_match_openai_shape(gw: GatewayServer, faults: FaultServer) -> None:
    r = raw(gw, {"model": "chat", "messages": USER, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-router-decision-id"]
    data = events(r.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    for ch in chunks:
        assert list(ch) == [
            "id",
            "object",
            "created",
            "model",
            "system_fingerprint",
            "choices",
        ]  # no usage key without include_usage
        assert ch["object"] == "chat.completion.chunk"
        assert ch["choices"][0]["logprobs"] is None
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len({ch["id"] for ch in chunks}) == 1


def test_sdk_stream_helper_accumulates(gw: GatewayServer, faults: FaultServer) -> None:
    with client(gw).chat.completions.stream(model="chat", messages=USER) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == "Hello from hosted"


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _tool_answer() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-tool",
            "object": "chat.completion",
            "created": 1,
            "model": "hosted-model",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city":"Paris"}',
                                },
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
        }
    ).encode()


def test_tools_and_response_format_go_through(gw: GatewayServer, faults: FaultServer) -> None:
    faults.script("hosted", Fault.raw(_tool_answer()))
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
    resp = client(gw).chat.completions.create(
        model="chat",
        messages=USER,
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="auto",
        response_format=fmt,  # type: ignore[arg-type]
        max_completion_tokens=50,
        seed=7,
    )
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert resp.choices[0].finish_reason == "tool_calls"
    sent = faults.records("hosted")[0].body
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"
    assert sent["response_format"] == fmt
    assert sent["max_tokens"] == 50 or sent.get("max_completion_tokens") == 50
    assert sent["seed"] == 7


def test_streamed_tool_call(gw: GatewayServer, faults: FaultServer) -> None:
    def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "hosted-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(obj)}\n\n".encode()

    call = {"index": 0, "id": "call_9", "type": "function"}
    frames = [
        frame({"role": "assistant", "tool_calls": [{**call, "function": {"name": "get_weather"}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        frame({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    faults.script("hosted", Fault.raw_stream(frames, "text/event-stream"))
    with client(gw).chat.completions.stream(model="chat", messages=USER, tools=TOOLS) as s:  # type: ignore[arg-type]
        final = s.get_final_completion()
    tc = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert tc.id == "call_9" and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Oslo"}


def test_user_field_and_headers_reach_the_context(gw: GatewayServer, faults: FaultServer) -> None:
    r = raw(gw, {"model": "chat", "messages": USER, "user": "u-42"})
    assert r.status_code == 200
    decision = r.headers["x-router-decision-id"]
    assert decision


# -- errors as the SDK's own exception types -------------------------------------


def test_missing_and_wrong_key_are_401(gw: GatewayServer, faults: FaultServer) -> None:
    with pytest.raises(openai.AuthenticationError) as e:
        client(gw, "sk-wrong-but-plausible-0000").chat.completions.create(
            model="chat", messages=USER
        )
    assert e.value.status_code == 401
    r = raw(gw, {"model": "chat", "messages": USER}, key=None)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert faults.records() == []


def test_unknown_or_forbidden_model_is_404(gw: GatewayServer, faults: FaultServer) -> None:
    with pytest.raises(openai.NotFoundError):
        client(gw).chat.completions.create(model="no-such-route", messages=USER)
    with pytest.raises(openai.NotFoundError) as e:
        client(gw, KEY_LIMITED).chat.completions.create(model="chat", messages=USER)
    assert e.value.code == "model_not_found"
    assert faults.records() == []


def test_policy_refusal_is_403_policy_denied(gw: GatewayServer, faults: FaultServer) -> None:
    # The hospital key's floor is confidential: the hosted-only route has no eligible target.
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(gw, KEY_HOSPITAL).chat.completions.create(model="hosted", messages=USER)
    assert e.value.code == "policy_denied"
    assert "hosted" in e.value.message and "no eligible target" in e.value.message
    assert e.value.response.headers["x-router-decision-id"]
    assert faults.records() == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat", "messages": USER, "n": 2}, "n"),
        ({"model": "chat", "messages": USER, "logit_bias": {"1": 2}}, "logit_bias"),
        ({"model": "chat", "messages": USER, "temperature": 9}, None),
        ({"model": "chat", "messages": []}, "messages"),
        ({"messages": USER}, "model"),
        ({"model": "chat", "messages": [{"role": "wizard", "content": "x"}]}, None),
        ({"model": "chat", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "chat", "messages": ["hi"]}, None),
        ({"model": "chat", "messages": [{"role": "user", "content": 5}]}, None),
        ({"model": "chat", "messages": [{"role": "user", "content": "\ud800"}]}, None),
        ({"model": "chat", "messages": USER, "tools": "all"}, None),
        ({"model": "chat", "messages": USER, "stream_options": {"x": 1}}, "stream_options"),
        ([USER], None),
    ],
)
def test_bad_parameters_are_400(
    gw: GatewayServer, faults: FaultServer, body: dict[str, Any], param: str | None
) -> None:
    r = raw(gw, body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    if param:
        assert err["param"] == param
    assert faults.records() == []


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"model": "chat", "messages": NaN}', b"\xff\xfe", b"[" * 100_000]
)
def test_malformed_json_is_400(gw: GatewayServer, faults: FaultServer, body: bytes) -> None:
    r = raw(gw, body)
    assert r.status_code == 400
    assert "error" in r.json()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-router-sensitivity", "top-secret"),
        ("x-router-max-cost-usd", "nan"),
        ("x-router-max-cost-usd", "-1"),
        ("x-router-min-quality", "101"),
        ("x-router-deadline-s", "0"),
        ("x-router-user", "x" * 300),
    ],
)
def test_bad_router_headers_are_400(
    gw: GatewayServer, faults: FaultServer, header: str, value: str
) -> None:
    r = raw(gw, {"model": "chat", "messages": USER}, **{header: value})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == header
    assert value not in r.text or value in ("0",)
    assert faults.records() == []


def test_unknown_paths_and_methods_answer_json(gw: GatewayServer) -> None:
    for method, path in (("GET", "/v1/chat/completions"), ("POST", "/v1/embeddings")):
        r = httpx.request(method, gw.url + path, headers={"authorization": f"Bearer {KEY_ACME}"})
        assert r.status_code in (404, 405)
        assert r.json()["error"]["code"] == "not_found"


def test_a_second_authorization_header_does_not_replace_the_first(
    gw: GatewayServer, faults: FaultServer
) -> None:
    body = {"model": "chat", "messages": USER}
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/models"):
        r = httpx.request(
            "GET" if path == "/v1/models" else "POST",
            gw.url + path,
            json=None if path == "/v1/models" else {**body, "max_tokens": 5},
            headers=[
                ("authorization", "Bearer wrong-key"),
                ("authorization", f"Bearer {KEY_ACME}"),
            ],
        )
        assert r.status_code == 401, path
    assert faults.records() == []


def test_paths_next_to_the_chat_endpoints_are_not_served_as_them(
    gw: GatewayServer, faults: FaultServer
) -> None:
    hdr = {"authorization": f"Bearer {KEY_ACME}"}
    body = {"model": "chat", "messages": USER}
    for path in (
        "/v1/chat/completions/",
        "/v1/chat/completions/x",
        "/V1/messages",
        "/v1//messages",
    ):
        r = httpx.post(gw.url + path, json=body, headers=hdr)
        if r.status_code == 307:  # starlette's redirect to the path without the slash
            assert r.headers["location"].endswith("/v1/chat/completions")
            continue
        assert r.status_code in (404, 405), path
        assert r.json()["error"]["code"] == "not_found"
    assert faults.records() == []


def test_user_field_reaches_the_provider(gw: GatewayServer, faults: FaultServer) -> None:
    client(gw).chat.completions.create(model="chat", messages=USER, user="end-user-9")
    assert faults.records("hosted")[0].body["user"] == "end-user-9"


def test_sdk_bad_request_is_its_exception(gw: GatewayServer, faults: FaultServer) -> None:
    with pytest.raises(openai.BadRequestError):
        client(gw).chat.completions.create(model="chat", messages=USER, n=3)


def test_upstream_quota_after_the_plan_is_429(gw: GatewayServer, faults: FaultServer) -> None:
    faults.script("hosted", Fault.quota())
    faults.script("local", Fault.quota())
    with pytest.raises(openai.RateLimitError):
        client(gw).chat.completions.create(model="chat", messages=USER)
    assert faults.targets_hit() == {"hosted", "local"}


def test_upstream_errors_after_the_plan_are_502(gw: GatewayServer, faults: FaultServer) -> None:
    for t in ("hosted", "local"):
        faults.script(t, Fault.http(500), Fault.http(500))
    with pytest.raises(openai.InternalServerError) as e:
        client(gw).chat.completions.create(model="chat", messages=USER)
    assert e.value.status_code == 502
    assert e.value.code == "upstream_unavailable"


def test_upstream_timeouts_after_the_plan_are_504(gw: GatewayServer, faults: FaultServer) -> None:
    for t in ("hosted", "local"):
        faults.script(t, Fault.hang(2), Fault.hang(2))
    with pytest.raises(openai.InternalServerError) as e:
        client(gw).chat.completions.create(model="chat", messages=USER)
    assert e.value.status_code == 504


def test_context_too_long_is_400_context_length_exceeded(
    gw: GatewayServer, faults: FaultServer
) -> None:
    faults.script("hosted", Fault.context_length())
    faults.script("local", Fault.context_length())
    with pytest.raises(openai.BadRequestError) as e:
        client(gw).chat.completions.create(model="chat", messages=USER)
    assert e.value.code == "context_length_exceeded"


def test_stream_failing_before_content_is_an_http_error(
    gw: GatewayServer, faults: FaultServer
) -> None:
    for t in ("hosted", "local"):
        faults.script(t, Fault.http(500), Fault.http(500))
    r = raw(gw, {"model": "chat", "messages": USER, "stream": True})
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_unavailable"


def test_stream_failing_after_first_byte_ends_with_an_error_event(
    gw: GatewayServer, faults: FaultServer
) -> None:
    faults.script("hosted", Fault.cut(after=2))
    r = raw(
        gw,
        {"model": "chat", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True},
    )
    assert r.status_code == 200
    data = events(r.text)
    assert "[DONE]" not in data
    last = json.loads(data[-1])
    assert last["error"]["code"] == "stream_interrupted"
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"
    faults.script("hosted", Fault.cut(after=2))
    with pytest.raises(openai.APIError):
        for _ in client(gw).chat.completions.create(model="chat", messages=USER, stream=True):
            pass


# -- limits --------------------------------------------------------------------


def test_body_over_the_limit_is_413_while_reading(
    faults: FaultServer, fault_server: FaultServer
) -> None:
    config = gateway_config(fault_server)
    config["gateway"]["max_body_bytes"] = 4096
    with running(config) as gw:
        big = [{"role": "user", "content": "x" * 5000}]
        with pytest.raises(openai.APIStatusError) as e:
            client(gw).chat.completions.create(model="chat", messages=big)
        assert e.value.status_code == 413

        def chunks() -> Iterator[bytes]:  # no content-length: the limit holds on bytes read
            yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
            for _ in range(100):
                yield b"y" * 1000

        r = httpx.post(
            gw.url + "/v1/chat/completions",
            content=chunks(),
            headers={"authorization": f"Bearer {KEY_ACME}"},
        )
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"
        small = client(gw).chat.completions.create(model="chat", messages=USER)
        assert small.choices[0].message.content == "Hello from hosted"
    assert faults.count("hosted") == 1


def test_budget_exceeded_is_429_with_retry_after(
    faults: FaultServer, fault_server: FaultServer
) -> None:
    config = gateway_config(fault_server)
    config["rules"].append(
        {"name": "acme-daily", "when": {"tenant": "acme"}, "budget": {"usd": 1e-9, "per": "minute"}}
    )
    with running(config) as gw:
        with pytest.raises(openai.RateLimitError) as e:
            client(gw).chat.completions.create(model="hosted", messages=USER)
        assert e.value.code == "budget_exceeded"
        retry = int(e.value.response.headers["retry-after"])
        assert 1 <= retry <= 60
    assert faults.records() == []


def test_max_in_flight_per_key(gw: GatewayServer, faults: FaultServer) -> None:
    body = {"model": "local-only", "messages": USER}
    hdr = {"authorization": f"Bearer {KEY_LIMITED}"}
    faults.script("local", Fault.hang(1.0))  # until the read timeout; then a retry
    url = gw.url + "/v1/chat/completions"
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, url, json=body, headers=hdr, timeout=20)
        while faults.count("local") == 0:  # the first one is now in flight
            time.sleep(0.01)
        other = [{"role": "user", "content": "the second request"}]
        second = httpx.post(url, json={**body, "messages": other, "stream": True}, headers=hdr)
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "too_many_in_flight"
        assert first.result().status_code == 200
    assert all(r.body["messages"] != other for r in faults.records())  # refused before sending
    assert httpx.post(url, json=body, headers=hdr).status_code == 200
    # Other keys are not limited by it.
    assert raw(gw, {"model": "chat", "messages": USER}).status_code == 200


def test_a_client_leaving_a_stream_releases_its_slot_and_is_audited(
    fault_server: FaultServer, faults: FaultServer, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    config = gateway_config(fault_server, telemetry={"audit_log": str(audit)})
    config["providers"]["local"]["timeout"] = {
        "connect_s": 2,
        "read_s": 10,
        "write_s": 2,
        "pool_s": 2,
    }
    faults.script("local", Fault.ok(delay_s=0.5))
    body = json.dumps({"model": "local-only", "messages": USER, "stream": True}).encode()
    with running(config) as gw:
        with socket.create_connection(("127.0.0.1", gw.port)) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                + f"authorization: Bearer {KEY_LIMITED}\r\n".encode()
                + b"content-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            while faults.count("local") == 0:
                time.sleep(0.01)
        # The slot of the key (max_in_flight 1) comes back, and the call was recorded once.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = httpx.post(
                gw.url + "/v1/chat/completions",
                json={"model": "local-only", "messages": USER},
                headers={"authorization": f"Bearer {KEY_LIMITED}"},
            )
            if r.status_code != 429:
                break
            time.sleep(0.05)
        assert r.status_code == 200
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(records) == 2
    assert [rec["stream"] for rec in records] == [True, False]
    assert records[0]["tenant"] == "limited" and records[0]["outcome"] in ("ok", "error")


def test_max_in_flight_falls_back_to_the_process_while_redis_is_unreachable(
    fault_server: FaultServer, faults: FaultServer
) -> None:
    # Nothing listens there: the store degrades to process memory, as rate limits do.
    config = gateway_config(fault_server, state=f"redis://127.0.0.1:{free_port()}/0")
    faults.script("local", Fault.ok(delay_s=1.0))
    body = {"model": "local-only", "messages": USER}
    hdr = {"authorization": f"Bearer {KEY_LIMITED}"}
    with running(config) as gw, ThreadPoolExecutor(1) as pool:
        url = gw.url + "/v1/chat/completions"
        first = pool.submit(httpx.post, url, json=body, headers=hdr, timeout=20)
        while faults.count("local") == 0:
            time.sleep(0.01)
        other = [{"role": "user", "content": "the second request"}]
        second = httpx.post(url, json={**body, "messages": other, "stream": True}, headers=hdr)
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "too_many_in_flight"
        assert first.result().status_code == 200
        assert all(r.body["messages"] != other for r in faults.records())  # nothing sent
        streamed = httpx.post(url, json={**body, "stream": True}, headers=hdr, timeout=20)
        assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
        assert httpx.post(url, json=body, headers=hdr, timeout=20).status_code == 200


def test_a_slot_the_store_cannot_take_back_is_logged_without_failing(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        store = AsyncMemoryStore()
        router = AsyncRouter.from_dict(gateway_config(fault_server), store=store)
        gateway = Gateway(router)
        key = gateway.keys.match(KEY_LIMITED)
        slot = await gateway.acquire(key)
        assert slot is not None
        with pytest.raises(GatewayError) as refused:
            await gateway.acquire(key)
        assert refused.value.status == 429
        await store.aclose()  # the store gone (a server stopping past its grace)
        with caplog.at_level("WARNING", logger="router.gateway"):
            await gateway.release(slot)  # no exception
        assert "could not release an in-flight slot" in caplog.text
        assert KEY_LIMITED not in caplog.text and slot.ticket not in caplog.text
        await router.aclose()

    asyncio.run(main())


def test_a_slot_is_a_lease_renewed_while_its_request_runs(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.gateway.app as app_module
    from router.state.base import LimitCharge

    monkeypatch.setattr(app_module, "SLOT_HOLD_S", 0.3)
    monkeypatch.setattr(app_module, "SLOT_RENEW_S", 0.05)

    async def main() -> None:
        store = AsyncMemoryStore()
        router = AsyncRouter.from_dict(gateway_config(fault_server), store=store)
        gateway = Gateway(router)
        key = gateway.keys.match(KEY_LIMITED)
        assert key is not None
        slot = await gateway.acquire(key)
        await asyncio.sleep(1.0)  # more than three leases: renewed, still held
        with pytest.raises(GatewayError):
            await gateway.acquire(key)
        await gateway.release(slot)
        await asyncio.sleep(0.4)  # no renewal puts a released slot back
        again = await gateway.acquire(key)
        await gateway.release(again)
        # A holder that stops renewing (a process killed mid-request) frees its slot
        # once its lease runs out.
        dead = LimitCharge(app_module.SLOT_PREFIX + key.name, 1)
        got = await store.limit_acquire("dead-process", (dead,), now=time.time(), hold_s=0.3)
        assert got.ok
        with pytest.raises(GatewayError):
            await gateway.acquire(key)
        await asyncio.sleep(0.4)
        await gateway.release(await gateway.acquire(key))
        await gateway.aclose()
        await router.aclose()
        await store.aclose()

    asyncio.run(main())


# -- the other endpoints ----------------------------------------------------------


def test_models_lists_what_the_key_may_use(gw: GatewayServer) -> None:
    ids = [m.id for m in client(gw).models.list()]
    assert ids == ["chat", "local-only", "local", "hosted"]
    assert [m.id for m in client(gw, KEY_LIMITED).models.list()] == ["local-only"]
    with pytest.raises(openai.AuthenticationError):
        client(gw, "nope-nope-nope-nope").models.list()


def test_health_and_readiness(gw: GatewayServer) -> None:
    assert httpx.get(gw.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gw.url + "/readyz").json() == {"status": "ready"}


def test_readiness_fails_when_the_store_fails(fault_server: FaultServer) -> None:
    config = gateway_config(fault_server, state="redis://127.0.0.1:1/0")
    with running(config) as gw:
        assert httpx.get(gw.url + "/healthz").status_code == 200
        r = httpx.get(gw.url + "/readyz", timeout=10)
        assert r.status_code == 503
        assert r.json()["status"] == "unavailable"


def test_concurrent_requests(gw: GatewayServer, faults: FaultServer) -> None:
    async def go() -> list[str | None]:
        c = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=KEY_ACME, max_retries=0)
        async with c:
            rs = await asyncio.gather(
                *(c.chat.completions.create(model="chat", messages=USER) for _ in range(20))
            )
        return [r.choices[0].message.content for r in rs]

    assert asyncio.run(go()) == ["Hello from hosted"] * 20


def test_every_breaker_open_is_503(fault_server: FaultServer, faults: FaultServer) -> None:
    config = gateway_config(fault_server)
    config["providers"]["local"]["breaker"] = {"failures": 1, "cooldown_s": 60}
    with running(config) as gw:
        faults.script("local", Fault.http(500), Fault.http(500))
        with pytest.raises(openai.InternalServerError) as first:
            client(gw).chat.completions.create(model="local-only", messages=USER)
        assert first.value.status_code == 502
        sent = faults.count("local")
        with pytest.raises(openai.InternalServerError) as second:
            client(gw).chat.completions.create(model="local-only", messages=USER)
        assert second.value.status_code == 503
        assert second.value.code == "upstream_unavailable"
        assert faults.count("local") == sent  # the open breaker sent nothing


def test_no_auth_serves_without_keys_and_without_a_floor(
    fault_server: FaultServer, faults: FaultServer
) -> None:
    config = gateway_config(fault_server)
    del config["gateway"]
    with running(config, auth=False) as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "chat", "messages": USER})
        assert r.status_code == 200 and r.headers["x-router-target"] == "hosted"
        # Headers still tighten: a confidential request stays local.
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "chat", "messages": USER},
            headers={"x-router-sensitivity": "confidential"},
        )
        assert r.headers["x-router-zone"] == "local"
        ids = [m["id"] for m in httpx.get(gw.url + "/v1/models").json()["data"]]
        assert ids == ["chat", "local-only", "local", "hosted"]
    assert faults.count("hosted") == 1
