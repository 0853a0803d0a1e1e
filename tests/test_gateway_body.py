"""The gateway's JSON in and out, and the request headers it reads: what the fast
paths (decoder and encoder made once, headers read once) must keep of the plain ones."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from router.gateway.app import header_map
from router.gateway.body import dumps, parse_json
from router.gateway.errors import GatewayError

DOC = {"model": "chat", "messages": [{"role": "user", "content": "héllo ✓ \U0001f600"}]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_bodies_decode_as_json_loads_decodes_them(encoding: str) -> None:
    raw = json.dumps(DOC, ensure_ascii=False).encode(encoding)
    assert parse_json(raw) == json.loads(raw) == DOC


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": -Infinity}', "not valid JSON"),
        (b"\xff\xfe\xff", "not UTF-8"),
        (b'{"a": "\xc3"}', "not UTF-8"),
        (b"", "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bad_bodies_are_400_without_echoing_them(raw: bytes, problem: str) -> None:
    with pytest.raises(GatewayError) as e:
        parse_json(raw)
    assert e.value.status == 400
    assert problem in e.value.message
    assert "NaN" not in e.value.message and "Infinity" not in e.value.message


@pytest.mark.parametrize(
    "obj",
    [DOC, {"x": None, "y": [1, 2.5, True], "z": '\u2028\x00"\\'}, [], "plain"],
)
def test_dumps_is_compact_utf8_json(obj: Any) -> None:
    out = dumps(obj)
    assert out == json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(out) == obj


def test_dumps_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        dumps({"a": object()})
    assert dumps({"a": math.inf}) == b'{"a":Infinity}'  # as json.dumps: callers send finite


def test_header_map_keeps_the_first_of_repeated_headers() -> None:
    # A second Authorization (or x-api-key) header must not replace the first: the
    # gateway decides on the same value starlette's Headers.get would give.
    scope = {
        "headers": [
            (b"authorization", b"Bearer first"),
            (b"x-router-sensitivity", b"confidential"),
            (b"authorization", b"Bearer second"),
            (b"x-router-sensitivity", b"public"),
            (b"x-odd", "caf\u00e9".encode("latin-1")),
        ]
    }
    headers = header_map(scope)
    assert headers["authorization"] == "Bearer first"
    assert headers["x-router-sensitivity"] == "confidential"
    assert headers["x-odd"] == "caf\u00e9"
    assert "Authorization" not in headers  # ASGI names are lower case; no re-casing
