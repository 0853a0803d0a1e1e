"""Helpers shared by the native adapters: OpenAI-shaped messages and tools in, pieces out.

Each native wire format reshapes the same things — tool-call arguments (a
JSON string in OpenAI's shape, an object elsewhere), tool results that must
be tied back to the call they answer, stop sequences, JSON-schema output —
so the shared part of that translation lives here, once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidRequestError, ProviderUnavailable
from ..types import ChatRequest, Message

__all__ = [
    "arguments_object",
    "arguments_text",
    "data_url",
    "json_schema_of",
    "object_or_fail",
    "stop_list",
    "synth_call_id",
    "tool_function",
    "tool_names_by_id",
]


def arguments_object(raw: str, *, name: str) -> dict[str, Any]:
    """A tool call's JSON-string arguments as the object native formats want."""
    if not raw or not raw.strip():
        return {}
    try:
        obj = json.loads(raw)
    except ValueError:
        raise InvalidRequestError(
            f"tool call {name!r} has arguments that are not valid JSON", code="invalid_arguments"
        ) from None
    if not isinstance(obj, dict):
        raise InvalidRequestError(
            f"tool call {name!r} has arguments that are not a JSON object",
            code="invalid_arguments",
        )
    return obj


def arguments_text(obj: Any) -> str:
    """Native (object) arguments as OpenAI's JSON string; ``{}`` when absent."""
    if obj is None:
        return "{}"
    if isinstance(obj, str):
        return obj
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def tool_names_by_id(messages: Iterable[Message]) -> dict[str, str]:
    """Every assistant tool-call id in the conversation, mapped to its function name."""
    names: dict[str, str] = {}
    for m in messages:
        for tc in m.tool_calls or ():
            names[tc.id] = tc.function.name
    return names


def tool_function(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The ``function`` object of an OpenAI tool definition (checked)."""
    fn = tool.get("function") if tool.get("type", "function") == "function" else None
    if not isinstance(fn, Mapping) or not fn.get("name"):
        raise InvalidRequestError(
            "only function tools ({type: function, function: {name, ...}}) are supported",
            code="invalid_tools",
        )
    return dict(fn)


def stop_list(stop: str | list[str] | None) -> list[str] | None:
    """``stop`` as a list (native formats take only lists)."""
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def json_schema_of(request: ChatRequest) -> tuple[str | None, dict[str, Any] | None]:
    """The requested output: ``("json_schema", schema)``, ``("json_object", None)`` or none."""
    rf = request.response_format or {}
    kind = rf.get("type")
    if kind == "json_schema":
        spec = rf.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return "json_schema", dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    if kind == "json_object":
        return "json_object", None
    return None, None


def data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64_data)`` of a ``data:`` URL, else ``None``."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, _, data = url.partition(";base64,")
    return head[5:] or "application/octet-stream", data


def synth_call_id(*parts: object) -> str:
    """A stable tool-call id for formats that have none (the same call gets the same id)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"call_{digest[:24]}"


def object_or_fail(obj: Any, what: str) -> dict[str, Any]:
    """``obj`` when it is a JSON object, else a retryable malformed-response error."""
    if not isinstance(obj, dict):
        raise ProviderUnavailable(f"{what} is not a JSON object", code="malformed_response")
    return obj
