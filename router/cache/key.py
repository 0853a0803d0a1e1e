"""The cache key: a SHA-256 of what makes two calls the same call.

What is hashed is the canonical JSON (sorted keys, no spaces, UTF-8) of:
the tenant (``null`` when none: never equal to any tenant's name), the
policy hash (any change to routing config starts a fresh cache), the route,
and the request as it is sent — messages and parameters after the route's
and the policy's output cap, with unset fields left out. Only what cannot
change the answer is normalised: the order of keys in mappings (tool
schemas, ``response_format``) and ``stop`` given as one string or a list
of one. Text is taken byte for byte (whitespace and Unicode forms can
change what a model answers). With ``ignore_temperature``, the temperature
is left out. The digest reveals nothing of the content.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..types import ChatRequest

__all__ = ["digest"]

VERSION = 1
"""Bumped when what is hashed changes, so old entries are never matched."""


def _normalised(request: ChatRequest, ignore_temperature: bool) -> dict[str, Any]:
    # Python mode: a NaN stays a NaN (refused below) instead of becoming null.
    body = request.model_dump(exclude_none=True)
    if ignore_temperature:
        body.pop("temperature", None)
    stop = body.get("stop")
    if isinstance(stop, str):
        body["stop"] = [stop]
    return body


def digest(
    policy_hash: str,
    tenant: str | None,
    route: str,
    request: ChatRequest,
    *,
    ignore_temperature: bool = False,
) -> str | None:
    """The hex SHA-256 key of ``request``; ``None`` when it has no canonical form.

    (A float that is not finite, or text that is not valid Unicode, in a
    parameter: such a call is simply not cached.)
    """
    doc = {
        "v": VERSION,
        "policy": policy_hash,
        "tenant": tenant,
        "route": route,
        "request": _normalised(request, ignore_temperature),
    }
    try:
        data = json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (ValueError, TypeError):  # NaN/inf, a lone surrogate (UnicodeEncodeError)
        return None
    return hashlib.sha256(data).hexdigest()
