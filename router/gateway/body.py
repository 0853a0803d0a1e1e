"""Reading a request body: bounded while it is read, then strict JSON.

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

__all__ = ["parse_json", "read_body"]


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


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``; a 400 :class:`GatewayError` (without the input) if not."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise GatewayError(400, "the request body is not UTF-8") from None
    except RecursionError:
        raise GatewayError(400, "the request body is nested too deeply") from None
    except ValueError as e:
        where = (
            f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        )
        raise GatewayError(400, f"the request body is not valid JSON{where}") from None
