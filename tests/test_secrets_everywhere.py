"""Every configured secret stays out of every rendering of an error or a config.

Secrets of a provider: its API key, every ``headers:`` value, the user and
password of ``base_url``'s userinfo, the values of ``base_url``'s query. A
fake provider on 127.0.0.1 echoes what it received (the Authorization header,
a custom auth header, the request path with its query) in its 401 body and
in the error's ``code``/``type``, as careless servers and proxies do.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import respx
import yaml

from router import AsyncRouter, ProviderError, Router, StreamInterrupted
from router.cli import main
from router.policy import Policy

from .helpers import BASE, KEY, USER, one_target_config

HEADER_TOKEN = "hdr-tok-7f3a9c2e4b1d8e6fSECRET"
ORG_TOKEN = "org-5d2c8b1a9e7f3c4dSECRET"
URL_USER = "urluser-SECRET"
URL_PASSWORD = "p@ss-9a8b7c6dSECRET"  # written percent-encoded in the URL
QUERY_KEY = "qkey-1e2d3c4b5a69SECRET"
QUERY_APIKEY = "qapi-0f9e8d7c6b5aSECRET"
SECRETS = (KEY, HEADER_TOKEN, ORG_TOKEN, URL_USER, URL_PASSWORD, QUERY_KEY, QUERY_APIKEY)
HEADERS = {"x-custom-auth": HEADER_TOKEN, "x-org": f"Token {ORG_TOKEN}"}


def _url(host: str) -> str:
    return (
        f"http://{URL_USER}:{URL_PASSWORD.replace('@', '%40')}@{host}/v1"
        f"?key={QUERY_KEY}&api-key={QUERY_APIKEY}"
    )


def _config(base_url: str = BASE) -> dict[str, Any]:
    return one_target_config(base_url=base_url, headers=dict(HEADERS))


def _renderings(e: BaseException) -> str:
    """Everything a caller, a log line or a traceback shows of an error."""
    parts = [str(e), repr(e), repr(e.args), "".join(traceback.format_exception(e))]
    parts += [repr(v) for v in vars(e).values()]
    return "\n".join(parts)


def _assert_clean(text: str) -> None:
    for s in SECRETS:
        assert s not in text, s
        assert s[:8] not in text, s  # nor a truncated piece of it


class _Echo(BaseHTTPRequestHandler):
    """A 401 that repeats the credentials it got, and the URL as configured."""

    configured_url = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = self.headers.get("authorization", "")
        custom = self.headers.get("x-custom-auth", "")
        org = self.headers.get("x-org", "")
        body = json.dumps(
            {
                "error": {
                    "message": f"bad credentials {auth!r} {custom!r} {org!r} for {self.path} "
                    f"({self.configured_url})",
                    "code": f"invalid_token:{custom}",
                    "type": auth,
                }
            }
        ).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    """``host:port`` of a fake provider answering every POST with an echoing 401."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    host = f"127.0.0.1:{server.server_address[1]}"
    _Echo.configured_url = _url(host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_401_echoing_header_tokens_in_message_and_code(echo_server: str) -> None:
    cfg = _config(f"http://{echo_server}/v1")
    _Echo.configured_url = cfg["providers"]["p"]["base_url"]
    with Router.from_dict(cfg) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    e = ei.value
    assert e.status == 401 and e.code is not None and e.code.startswith("invalid_token:")
    assert "***" in e.message and "***" in e.code
    _assert_clean(_renderings(e))
    assert e.__cause__ is None


def test_an_error_for_a_base_url_with_userinfo_and_query(echo_server: str) -> None:
    with Router.from_dict(_config(_url(echo_server))) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    assert ei.value.status == 401
    _assert_clean(_renderings(ei.value))


def test_a_transport_error_for_such_a_base_url_chains_nothing() -> None:
    # A closed port: httpx's own exception holds the request (URL, headers).
    cfg = _config(_url("127.0.0.1:9"))
    cfg["providers"]["p"]["retry"] = {"attempts": 1}
    with Router.from_dict(cfg) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    e = ei.value
    assert e.__cause__ is None and e.__suppress_context__
    _assert_clean(_renderings(e))


async def test_async_errors_are_scrubbed_too(echo_server: str) -> None:
    async with AsyncRouter.from_dict(_config(_url(echo_server))) as r:
        with pytest.raises(ProviderError) as ei:
            await r.chat(USER)
    _assert_clean(_renderings(ei.value))


@respx.mock
def test_an_error_inside_a_stream_is_scrubbed() -> None:
    first = {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
    err = {"error": {"message": f"boom {HEADER_TOKEN}", "type": ORG_TOKEN, "code": QUERY_KEY}}
    body = f"data: {json.dumps(first)}\n\ndata: {json.dumps(err)}\n\n".encode()
    respx.post(url__startswith="http://127.0.0.1:8999/v1").respond(
        200, content=body, headers={"content-type": "text/event-stream"}
    )
    with (
        Router.from_dict(_config(_url("127.0.0.1:8999"))) as r,
        pytest.raises(StreamInterrupted) as ei,
        r.stream(USER) as s,
    ):
        for _ in s:
            pass
    _assert_clean(_renderings(ei.value))


@respx.mock
def test_a_message_truncated_through_a_secret_keeps_no_piece_of_it() -> None:
    message = "x" * 490 + " " + HEADER_TOKEN  # cut at 500 characters, inside the token
    respx.post(BASE + "/chat/completions").respond(401, json={"error": {"message": message}})
    with Router.from_dict(_config()) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    assert ei.value.message.endswith("***…")
    _assert_clean(_renderings(ei.value))


def test_config_target_and_endpoint_reprs() -> None:
    with Router.from_dict(_config(_url("127.0.0.1:8999"))) as r:
        target = Policy(r.config).targets["m"]
        shown = [r.config, r.config.providers["p"], target, target.endpoint]
        text = "\n".join(repr(o) + "\n" + str(o) for o in shown)
    _assert_clean(text)
    assert "http://***:***@127.0.0.1:8999/v1?key=***&api-key=***" in text


def test_a_built_request_repr() -> None:
    from router.providers import adapter_for
    from router.types import ChatRequest

    with Router.from_dict(_config(_url("127.0.0.1:8999"))) as r:
        t = Policy(r.config).targets["m"]
    req = ChatRequest.model_validate({"messages": USER})
    http = adapter_for(t.kind, t.provider_name).build_request(t.endpoint, req, stream=False)
    _assert_clean(repr(http))


def test_a_state_store_password_is_not_in_the_config_repr() -> None:
    from router.config import load_dict

    cfg = load_dict({**_config(), "state": f"redis://:{URL_PASSWORD}@127.0.0.1:6379/0"})
    _assert_clean(repr(cfg) + str(cfg))


def test_the_secrets_of_a_provider() -> None:
    with Router.from_dict(_config(_url("127.0.0.1:8999"))) as r:
        found = Policy(r.config).targets["m"].secrets
    for s in SECRETS:
        assert s in found
    assert "Token" not in found  # the scheme of "Token <credentials>" is no secret


def _chat_cli(tmp_path: Path, cfg: dict[str, Any], *extra: str) -> tuple[int, str]:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(cfg))
    status = main(["chat", "--config", str(path), *extra, "hello"])
    return status, path.name


@pytest.mark.parametrize("extra", [(), ("--stream",), ("--json",)])
def test_cli_chat_prints_no_secret(
    echo_server: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
) -> None:
    status, _ = _chat_cli(tmp_path, _config(_url(echo_server)), *extra)
    out, err = capsys.readouterr()
    assert status == 2 and "error:" in err and "401" in err
    _assert_clean(out + err)


@respx.mock
def test_the_audit_key_is_scrubbed_like_a_provider_secret(tmp_path: Path) -> None:
    key = "audit-key-0123456789abcdef"
    cfg = {
        "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"provider": "p", "model": "x"}},
        "routes": {"default": {"candidates": ["m"]}},
        "telemetry": {"audit_log": str(tmp_path / "a.jsonl"), "audit_key": key},
    }
    respx.post("http://127.0.0.1:9/v1/chat/completions").respond(
        401, json={"error": {"message": f"Incorrect audit key {key}", "code": key}}
    )
    with Router(cfg) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    shown = _renderings(ei.value)
    assert key not in shown and key[:8] not in shown
    assert ei.value.message == "Incorrect audit key ***" and ei.value.code == "***"
    assert key not in repr(r.config)
