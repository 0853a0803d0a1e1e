"""Reading a request body: bounded while it is read, then strict JSON; and the
gateway's JSON out (:func:`dumps`).

The limit is checked against ``Content-Length`` first and then against the
bytes actually received, so a client that lies about the length (or sends a
chunked body) is cut off at the limit, not after buffering all of it.
Compressed bodies are refused rather than inflated.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .errors import GatewayError

__all__ = ["dumps", "parse_json", "read_body"]


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"request body larger than {limit} bytes", code="request_too_large")


async def read_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or a 413 :class:`GatewayError` as soon as it passes ``limit`` bytes."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise GatewayError(400, "compressed request bodies are not accepted")
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Made once: json.loads / json.dumps with options build a new decoder / encoder per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: object) -> bytes:
    """``obj`` as compact UTF-8 JSON (what every answer body and event carries)."""
    return _ENCODER.encode(obj).encode()


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``; a 400 :class:`GatewayError` (without the input) if not."""
    try:
        # As json.loads(bytes): UTF-8 (a BOM allowed), -16 or -32 by the first bytes.
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except UnicodeDecodeError:
        raise GatewayError(400, "the request body is not UTF-8") from None
    except RecursionError:
        raise GatewayError(400, "the request body is nested too deeply") from None
    except ValueError as e:
        where = (
            f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        )
        raise GatewayError(400, f"the request body is not valid JSON{where}") from None
