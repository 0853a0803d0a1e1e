"""Ollama's native chat API (``POST {host}/api/chat``).

Differences from the OpenAI shape that matter: sampling parameters live in
``options`` (``num_predict`` is the output-token limit); ``format`` is
``"json"`` or a JSON Schema; tool-call ``arguments`` are objects; a tool
result names its function in ``tool_name``; ``stream`` defaults to true, so
it is always sent; a stream is NDJSON, one object per line, ending with a
``done: true`` line that carries ``done_reason`` and the token counts. An
error can arrive as an ``{"error": ...}`` line after a 200.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import ProviderError, ProviderUnavailable
from ..types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChoiceMessage,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .base import Adapter, Endpoint, HttpRequest, StreamDecoder, loads_json
from .errors_map import error_for_status
from .translate import (
    arguments_object,
    arguments_text,
    data_url,
    json_schema_of,
    object_or_fail,
    stop_list,
    synth_call_id,
    tool_function,
    tool_names_by_id,
)

__all__ = ["DEFAULT_BASE_URL", "OllamaAdapter", "OllamaStreamDecoder"]

DEFAULT_BASE_URL = "http://localhost:11434"


def usage_from(obj: Mapping[str, Any]) -> Usage | None:
    """``prompt_eval_count`` / ``eval_count`` of a final (``done``) object."""
    if obj.get("prompt_eval_count") is None and obj.get("eval_count") is None:
        return None
    prompt = int(obj.get("prompt_eval_count") or 0)
    out = int(obj.get("eval_count") or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=out, total_tokens=prompt + out)


def finish_reason(done_reason: str | None, called_tools: bool) -> str:
    """``done_reason`` as an OpenAI ``finish_reason``."""
    if done_reason == "length":
        return "length"
    return "tool_calls" if called_tools else "stop"


def _created(obj: Mapping[str, Any]) -> int:
    raw = obj.get("created_at")
    if not isinstance(raw, str):
        return 0
    try:
        # Ollama sends nanoseconds; fromisoformat takes at most microseconds.
        head, dot, frac = raw.partition(".")
        if dot:
            # Only the digits up to the offset (``-07:00`` has digits too) are the fraction.
            n = len(frac) - len(frac.lstrip("0123456789"))
            raw = f"{head}.{frac[: min(n, 6)]}{frac[n:]}"
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        # A time without an offset is UTC, never the local time of this machine.
        return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
    except ValueError:
        return 0


def _tool_calls(obj: Mapping[str, Any], seen: int) -> list[ToolCall]:
    out = []
    message = obj.get("message") or {}
    for i, tc in enumerate(message.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        name = str(fn.get("name") or "")
        args = arguments_text(fn.get("arguments"))
        call_id = str(tc.get("id") or "") or synth_call_id(
            obj.get("created_at"), seen + i, name, args
        )
        out.append(ToolCall(id=call_id, function=FunctionCall(name=name, arguments=args)))
    return out


def _error(err: Any, status: int | None = None) -> ProviderError:
    message = str(err.get("message") if isinstance(err, Mapping) else err)
    low = message.lower()
    if status is None:
        status = 404 if "not found" in low else 503
    return error_for_status(status, message, None, {}, provider="ollama")


# -- request ---------------------------------------------------------------


def _message(m: Message, names: Mapping[str, str]) -> dict[str, Any]:
    role = "system" if m.role == "developer" else m.role
    out: dict[str, Any] = {"role": role, "content": m.text()}
    if isinstance(m.content, list):
        images = []
        for p in m.content:
            if p.get("type") == "image_url":
                inline = data_url(str((p.get("image_url") or {}).get("url", "")))
                if inline:
                    images.append(inline[1])
        if images:
            out["images"] = images
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "function": {
                    "name": tc.function.name,
                    "arguments": arguments_object(tc.function.arguments, name=tc.function.name),
                }
            }
            for tc in m.tool_calls
        ]
    if m.role == "tool":
        name = names.get(m.tool_call_id or "") or m.name
        if name:
            out["tool_name"] = name
    return out


class OllamaAdapter(Adapter):
    """``POST {host}/api/chat``; no key unless one is configured (then a bearer token)."""

    kind = "ollama"
    provider_name = "ollama"

    def build_request(
        self, endpoint: Endpoint, request: ChatRequest, *, stream: bool
    ) -> HttpRequest:
        names = tool_names_by_id(request.messages)
        body: dict[str, Any] = dict(endpoint.extra_body)
        body["model"] = endpoint.model_id
        body["messages"] = [_message(m, names) for m in request.messages]
        body["stream"] = stream
        options: dict[str, Any] = dict(body.get("options") or {})
        max_tokens = request.max_tokens or endpoint.default_max_tokens
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        for name in ("temperature", "top_p", "seed"):
            if (value := getattr(request, name)) is not None:
                options[name] = value
        if (stops := stop_list(request.stop)) is not None:
            options["stop"] = stops
        if options:
            body["options"] = options
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": tool_function(t)} for t in request.tools
            ]
        fmt, schema = json_schema_of(request)
        if fmt == "json_schema":
            body["format"] = schema
        elif fmt == "json_object":
            body["format"] = "json"
        headers = {
            "content-type": "application/json",
            "accept": "application/x-ndjson" if stream else "application/json",
        }
        headers.update(endpoint.headers)
        if endpoint.api_key:
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        base = (endpoint.base_url or DEFAULT_BASE_URL).rstrip("/")
        return HttpRequest("POST", base + "/api/chat", headers, body)

    def parse_response(self, body: bytes) -> ChatResponse:
        obj = object_or_fail(loads_json(body), "response")
        if "error" in obj:
            raise _error(obj["error"])
        if not isinstance(obj.get("message"), Mapping):
            raise ProviderUnavailable("response has no message", code="malformed_response")
        calls = _tool_calls(obj, 0)
        content = str(obj["message"].get("content") or "")
        message = ChoiceMessage(
            content=content if content or not calls else None, tool_calls=calls or None
        )
        return ChatResponse(
            id=f"ollama-{_created(obj)}",
            created=_created(obj),
            model=str(obj.get("model") or ""),
            choices=[
                Choice(
                    message=message,
                    finish_reason=finish_reason(obj.get("done_reason"), bool(calls)),
                )
            ],
            usage=usage_from(obj),
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        message = f"HTTP {status}"
        try:
            obj = loads_json(body, "error body")
        except ProviderError:
            obj = None
        if isinstance(obj, Mapping) and obj.get("error"):
            err = obj["error"]
            message = str(err.get("message") if isinstance(err, Mapping) else err)
        return error_for_status(status, message, None, headers, provider=self.provider_name)

    def stream_decoder(self) -> StreamDecoder:
        return OllamaStreamDecoder()


class OllamaStreamDecoder(StreamDecoder):
    """NDJSON: one JSON object per line until the ``done: true`` line."""

    def __init__(self) -> None:
        super().__init__()
        self._done = False
        self._tools = 0
        self._id = ""
        self._created = 0

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, line: str) -> list[ChatChunk]:
        if not line.strip():
            return []
        obj = object_or_fail(loads_json(line, "stream line"), "stream line")
        if "error" in obj:
            raise _error(obj["error"])
        if not self._id:
            self._created = _created(obj)
            self._id = f"ollama-{self._created}"
        message = obj.get("message") or {}
        calls = _tool_calls(obj, self._tools)
        deltas = [
            ToolCallDelta(
                index=self._tools + i,
                id=c.id,
                type="function",
                function={"name": c.function.name, "arguments": c.function.arguments},
            )
            for i, c in enumerate(calls)
        ]
        self._tools += len(calls)
        finish = None
        if obj.get("done"):
            self._done = True
            finish = finish_reason(obj.get("done_reason"), self._tools > 0)
        delta = Delta(
            role=message.get("role"),
            content=str(message.get("content") or "") or None,
            tool_calls=deltas or None,
        )
        chunk = ChatChunk(
            id=self._id,
            created=self._created,
            model=str(obj.get("model") or ""),
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            usage=usage_from(obj) if obj.get("done") else None,
        )
        return [chunk]

    def close(self) -> list[ChatChunk]:
        if not self._done:
            raise ProviderUnavailable("stream ended before completion", code="stream_truncated")
        return []
