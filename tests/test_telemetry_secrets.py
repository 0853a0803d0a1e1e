"""No API key anywhere: spans, events, metrics, logs, exceptions, audit records.

A full run — successes, failures, fallbacks, auth errors that echo the key,
streams (complete, interrupted, closed early), sync and async, with content
capture on and a key pasted into the prompt — then every exported string is
scanned for the keys used.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from router import AsyncRouter, Router
from router.errors import RouterError
from router.policy import Policy
from tests.telemetry_support import (
    CLOUD_KEY,
    CLOUD_URL,
    KEYS,
    LOCAL_KEY,
    LOCAL_URL,
    Otel,
    completion,
    make_config,
    sse,
    sse_response,
)

pytest_plugins = ["tests.telemetry_fixtures"]

PROMPT = [{"role": "user", "content": "Say hello"}]
# A user pasting keys: a policy with detectors keeps it local; capture must redact it.
LEAKY = [{"role": "user", "content": f"my key is {LOCAL_KEY}, also {CLOUD_KEY}; mail a@b.io"}]


def _echo(status: int, key: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_key"}},
    )


def _interrupted(key: str) -> httpx.Response:
    body = sse("smol-135m", ["partial"], usage=False).split(b"data: [DONE]")[0]
    body = body.rsplit(b"data: ", 1)[0]  # drop the finish chunk
    body += f'data: {{"error": {{"message": "boom {key}", "type": "server_error"}}}}\n\n'.encode()
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _scenarios() -> list[tuple[str, Any, Any, dict[str, Any]]]:
    ok_local = httpx.Response(200, json=completion("smol-135m", f"echo {LOCAL_KEY}"))
    ok_cloud = httpx.Response(200, json=completion("gpt-x"))
    return [
        ("chat", ok_local, ok_cloud, {}),
        ("chat", _echo(401, LOCAL_KEY), ok_cloud, {}),  # auth failure → fallback
        ("chat", httpx.Response(503, text=f"down {LOCAL_KEY}"), _echo(401, CLOUD_KEY), {}),
        ("chat", _echo(400, LOCAL_KEY), ok_cloud, {}),  # invalid request surfaces
        ("stream", sse_response("smol-135m", ["a", LOCAL_KEY]), ok_cloud, {}),
        ("stream", _echo(401, LOCAL_KEY), sse_response("gpt-x", ["b"]), {}),
        ("stream", _interrupted(LOCAL_KEY), ok_cloud, {}),
        ("stream-break", sse_response("smol-135m", ["a", "b"]), ok_cloud, {}),
        ("chat", ok_local, ok_cloud, {"context": {"sensitivity": "nope"}}),  # denied
        ("chat-leaky", ok_local, ok_cloud, {}),
        ("stream-leaky", sse_response("smol-135m", ["a", LOCAL_KEY]), ok_cloud, {}),
    ]


def _collect_otel(otel: Otel) -> list[str]:
    out: list[str] = []
    for s in otel.spans():
        out.append(s.name)
        out.append(json.dumps(dict(s.attributes or {}), default=str))
        out.append(str(s.status.description))
        for e in s.events:
            out.append(e.name + json.dumps(dict(e.attributes or {}), default=str))
    data = otel.reader.get_metrics_data()
    if data is not None:
        out.append(data.to_json())
    return out


def test_no_key_in_any_telemetry_sync(
    otel: Otel, mock: respx.MockRouter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    audit = tmp_path / "audit.jsonl"
    r = Router(make_config(capture_content=True, audit_log=str(audit)), **otel.providers)
    texts: list[str] = [repr(r.config), repr(Policy(r.config).targets)]
    for kind, local, cloud, extra in _scenarios():
        mock.post(LOCAL_URL).mock(return_value=local)
        mock.post(CLOUD_URL).mock(return_value=cloud)
        try:
            prompt = LEAKY if kind.endswith("-leaky") else PROMPT
            if kind.startswith("chat"):
                resp = r.chat(prompt, **extra)
                texts += [repr(resp.route), resp.model_dump_json(exclude={"choices"})]
            else:
                with r.stream(prompt, **extra) as s:
                    for _ in s:
                        if kind == "stream-break":
                            break
        except RouterError as e:
            texts += [str(e), repr(e), repr(getattr(e, "attempts", None))]
            texts += [str(a) for a in e.args]
    texts += _collect_otel(otel)
    texts += [rec.getMessage() + (rec.exc_text or "") for rec in caplog.records]
    texts.append(audit.read_text())
    _assert_clean(texts)
    # The run did exercise what it claims to.
    names = {s.name for s in otel.spans()}
    assert {"route default", "chat smol-135m", "chat gpt-x"} <= names
    assert any("[CREDENTIAL]" in t for t in texts)


async def test_no_key_in_any_telemetry_async(
    otel: Otel, mock: respx.MockRouter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    audit = tmp_path / "audit.jsonl"
    r = AsyncRouter(make_config(capture_content=True, audit_log=str(audit)), **otel.providers)
    texts: list[str] = []
    for kind, local, cloud, extra in _scenarios():
        mock.post(LOCAL_URL).mock(return_value=local)
        mock.post(CLOUD_URL).mock(return_value=cloud)
        try:
            prompt = LEAKY if kind.endswith("-leaky") else PROMPT
            if kind.startswith("chat"):
                await r.chat(prompt, **extra)
            else:
                async with r.stream(prompt, **extra) as s:
                    async for _ in s:
                        if kind == "stream-break":
                            break
        except RouterError as e:
            texts += [str(e), repr(e), repr(getattr(e, "attempts", None))]
    texts += _collect_otel(otel)
    texts += [rec.getMessage() + (rec.exc_text or "") for rec in caplog.records]
    texts.append(audit.read_text())
    _assert_clean(texts)
    await r.aclose()


def _assert_clean(texts: list[str]) -> None:
    hits = [(k[:12], t[:200]) for t in texts for k in KEYS if k in t]
    assert not hits, hits
