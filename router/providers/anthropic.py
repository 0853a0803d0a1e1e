"""The Anthropic Messages wire format (``POST {host}/v1/messages``).

Translation from OpenAI's shape: system and developer messages become the
top-level ``system``; assistant ``tool_calls`` become ``tool_use`` blocks
(arguments as objects) and tool messages ``tool_result`` blocks in a user
turn; consecutive same-role turns merge (the API wants user and assistant to
alternate); ``max_tokens`` is always sent. JSON-schema output uses the
structured-outputs parameter ``output_config.format`` (GA, no beta header).
"""

from __future__ import annotations

from collections.abc import Mapping
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
from .base import Adapter, Endpoint, HttpRequest, SSEDecoder, StreamDecoder, loads_json
from .errors_map import error_for_status
from .translate import (
    arguments_object,
    arguments_text,
    data_url,
    json_schema_of,
    object_or_fail,
    stop_list,
    tool_function,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_TOKENS",
    "AnthropicAdapter",
    "AnthropicStreamDecoder",
]

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Sent when neither the request, the route nor the model sets ``max_tokens`` (required here)."""

_JSON_OBJECT_HINT = "Respond with a single valid JSON object and nothing else."

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Error ``type`` inside a 200 stream -> the HTTP status it stands for.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def finish_reason(stop_reason: str | None) -> str | None:
    """Anthropic ``stop_reason`` as an OpenAI ``finish_reason``."""
    if stop_reason is None:
        return None
    return _FINISH.get(stop_reason, "stop")


def usage_from(u: Mapping[str, Any] | None) -> Usage | None:
    """Anthropic usage. Its ``input_tokens`` leaves out cache reads and writes;
    ``prompt_tokens`` adds them back (OpenAI's sense). Thinking is in ``output_tokens``."""
    if not u:
        return None
    fresh = int(u.get("input_tokens") or 0)
    read = int(u.get("cache_read_input_tokens") or 0)
    written = int(u.get("cache_creation_input_tokens") or 0)
    out = int(u.get("output_tokens") or 0)
    prompt = fresh + read + written
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=out,
        total_tokens=prompt + out,
        cached_tokens=read,
        cache_write_tokens=written,
    )


def _error(err: Any, status: int | None = None) -> ProviderError:
    if isinstance(err, Mapping):
        kind = str(err.get("type") or "api_error")
        message = str(err.get("message") or kind)
    else:
        kind, message = "api_error", str(err)
    return error_for_status(
        status or _STREAM_ERROR_STATUS.get(kind, 500), message, kind, {}, provider="anthropic"
    )


# -- request ---------------------------------------------------------------


def _parts(m: Message) -> list[dict[str, Any]]:
    """A user or assistant message's content as Anthropic content blocks."""
    if m.content is None:
        return []
    if isinstance(m.content, str):
        return [{"type": "text", "text": m.content}] if m.content else []
    blocks: list[dict[str, Any]] = []
    for p in m.content:
        kind = p.get("type")
        if kind == "text" and p.get("text"):
            blocks.append({"type": "text", "text": str(p["text"])})
        elif kind == "image_url":
            url = str((p.get("image_url") or {}).get("url", ""))
            inline = data_url(url)
            source: dict[str, Any] = (
                {"type": "base64", "media_type": inline[0], "data": inline[1]}
                if inline
                else {"type": "url", "url": url}
            )
            blocks.append({"type": "image", "source": source})
    return blocks


def _turn(m: Message) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": m.tool_call_id or "",
            "content": m.text(),
        }
        return "user", [block]
    blocks = _parts(m)
    if m.role == "assistant":
        for tc in m.tool_calls or ():
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tc.id,
                    "name": tc.function.name,
                    "input": arguments_object(tc.function.arguments, name=tc.function.name),
                }
            )
    return ("assistant" if m.role == "assistant" else "user"), blocks


def messages_and_system(request: ChatRequest) -> tuple[list[dict[str, Any]], str | None]:
    """Anthropic ``messages`` (same-role turns merged) and the top-level ``system``."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role in ("system", "developer"):
            if m.text():
                system.append(m.text())
            continue
        role, blocks = _turn(m)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for t in turns:
        # The API wants a user turn's tool results before any other content.
        t["content"].sort(key=lambda b: b["type"] != "tool_result")
        # A turn that is one text block goes out as a plain string, as in the API's examples.
        c = t["content"]
        if len(c) == 1 and c[0]["type"] == "text":
            t["content"] = c[0]["text"]
    return turns, ("\n\n".join(system) if system else None)


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        fn = tool_function(t)
        spec: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        if fn.get("strict") is not None:
            spec["strict"] = bool(fn["strict"])
        out.append(spec)
    return out


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return {"type": "tool", "name": name} if name else {"type": "auto"}
    return {"type": {"required": "any"}.get(choice, choice)}


class AnthropicAdapter(Adapter):
    """``POST {host}/v1/messages`` with ``x-api-key`` and ``anthropic-version``."""

    kind = "anthropic"
    provider_name = "anthropic"

    def build_request(
        self, endpoint: Endpoint, request: ChatRequest, *, stream: bool
    ) -> HttpRequest:
        messages, system = messages_and_system(request)
        fmt, schema = json_schema_of(request)
        if fmt == "json_object":
            # No schema-free JSON mode exists here; say it in the system prompt.
            system = f"{system}\n\n{_JSON_OBJECT_HINT}" if system else _JSON_OBJECT_HINT
        body: dict[str, Any] = dict(endpoint.extra_body)
        body["model"] = endpoint.model_id
        body["max_tokens"] = request.max_tokens or endpoint.default_max_tokens or DEFAULT_MAX_TOKENS
        body["messages"] = messages
        if system is not None:
            body["system"] = system
        if request.temperature is not None:
            # Anthropic's range is 0..1; OpenAI's is 0..2.
            body["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if (stops := stop_list(request.stop)) is not None:
            body["stop_sequences"] = stops
        if request.tools:
            body["tools"] = _tools(request.tools)
        if request.tool_choice is not None and request.tools:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if fmt == "json_schema":
            config = dict(body.get("output_config") or {})
            config["format"] = {"type": "json_schema", "schema": schema}
            body["output_config"] = config
        if request.user is not None:
            body["metadata"] = {"user_id": request.user}
        if stream:
            body["stream"] = True
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": endpoint.api_version or ANTHROPIC_VERSION,
        }
        headers.update(endpoint.headers)
        if endpoint.api_key:
            headers["x-api-key"] = endpoint.api_key
        base = (endpoint.base_url or DEFAULT_BASE_URL).rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        return HttpRequest("POST", base + "/v1/messages", headers, body)

    def parse_response(self, body: bytes) -> ChatResponse:
        obj = object_or_fail(loads_json(body), "response")
        if obj.get("type") == "error" or ("error" in obj and "content" not in obj):
            raise _error(obj.get("error"))
        if not isinstance(obj.get("content"), list):
            raise ProviderUnavailable("response has no content", code="malformed_response")
        text: list[str] = []
        calls: list[ToolCall] = []
        for block in obj["content"]:
            if not isinstance(block, Mapping):
                continue
            if block.get("type") == "text":
                text.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                calls.append(
                    ToolCall(
                        id=str(block.get("id") or ""),
                        function=FunctionCall(
                            name=str(block.get("name") or ""),
                            arguments=arguments_text(block.get("input")),
                        ),
                    )
                )
            # thinking, redacted_thinking and server-tool blocks have no OpenAI
            # counterpart: they are not part of the answer's text.
        message = ChoiceMessage(
            content="".join(text) if text or not calls else None, tool_calls=calls or None
        )
        return ChatResponse(
            id=str(obj.get("id") or ""),
            model=str(obj.get("model") or ""),
            choices=[Choice(message=message, finish_reason=finish_reason(obj.get("stop_reason")))],
            usage=usage_from(obj.get("usage")),
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        message, code = f"HTTP {status}", None
        try:
            obj = loads_json(body, "error body")
        except ProviderError:
            obj = None
        if isinstance(obj, Mapping):
            err = obj.get("error", obj)
            if isinstance(err, Mapping):
                message = str(err.get("message") or message)
                code = str(err["type"]) if err.get("type") else None
        return error_for_status(status, message, code, headers, provider=self.provider_name)

    def stream_decoder(self) -> StreamDecoder:
        return AnthropicStreamDecoder()


class AnthropicStreamDecoder(SSEDecoder):
    """Named SSE events (``message_start`` … ``message_stop``) as OpenAI-style chunks.

    Tool-use blocks become ``tool_calls`` deltas: the id and name when the
    block starts, then each ``input_json_delta`` fragment as an arguments
    fragment (a block with no input yields ``{}``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._id = ""
        self._model = ""
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool-call index
        self._tool_args: dict[int, bool] = {}  # tool-call index -> saw an argument fragment
        self._finished = False
        self._usage_sent = False
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def close(self) -> list[ChatChunk]:
        out = self._flush()
        if not self._finished:
            raise ProviderUnavailable("stream ended before completion", code="stream_truncated")
        return out + self._usage_chunk()

    def _chunk(
        self, delta: Delta | None = None, finish: str | None = None, usage: Usage | None = None
    ) -> ChatChunk:
        choices = [] if delta is None else [ChunkChoice(delta=delta, finish_reason=finish)]
        return ChatChunk(id=self._id, model=self._model, choices=choices, usage=usage)

    def _usage_chunk(self) -> list[ChatChunk]:
        if self._usage_sent or not self._usage:
            return []
        self._usage_sent = True
        return [self._chunk(usage=usage_from(self._usage))]

    def _data(self, data: str) -> list[ChatChunk]:
        obj = object_or_fail(loads_json(data, "stream event"), "stream event")
        kind = obj.get("type")
        if kind == "error":
            raise _error(obj.get("error"))
        if kind == "message_start":
            msg = obj.get("message") or {}
            self._id = str(msg.get("id") or "")
            self._model = str(msg.get("model") or "")
            self._usage.update(msg.get("usage") or {})
            return [self._chunk(Delta(role="assistant"))]
        if kind == "content_block_start":
            return self._block_start(int(obj.get("index") or 0), obj.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(obj.get("index") or 0), obj.get("delta") or {})
        if kind == "content_block_stop":
            ti = self._tools.get(int(obj.get("index") or 0))
            if ti is not None and not self._tool_args.get(ti):
                return [self._tool_delta(ti, arguments="{}")]
            return []
        if kind == "message_delta":
            # usage here is cumulative: it overwrites what message_start said.
            self._usage.update(obj.get("usage") or {})
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason is None:
                return []
            self._finished = True
            return [self._chunk(Delta(), finish=finish_reason(reason))]
        if kind == "message_stop":
            self._done = True
            return self._usage_chunk()
        return []  # ping, and event types added after this adapter was written

    def _tool_delta(
        self, ti: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> ChatChunk:
        fn: dict[str, Any] = {"arguments": arguments}
        if name is not None:
            fn["name"] = name
        call = ToolCallDelta(index=ti, id=id, type="function" if id else None, function=fn)
        return self._chunk(Delta(tool_calls=[call]))

    def _block_start(self, index: int, block: Mapping[str, Any]) -> list[ChatChunk]:
        if block.get("type") == "tool_use":
            ti = len(self._tools)
            self._tools[index] = ti
            self._tool_args[ti] = False
            return [
                self._tool_delta(ti, id=str(block.get("id") or ""), name=str(block.get("name")))
            ]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk(Delta(content=str(block["text"])))]
        if block.get("type") == "fallback":
            # Server-side fallback: the model named in ``to`` writes what follows (a
            # reply names it as its ``model``; a stream's message_start cannot).
            to = block.get("to")
            if isinstance(to, Mapping) and to.get("model"):
                self._model = str(to["model"])
        return []

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> list[ChatChunk]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = str(delta.get("text") or "")
            return [self._chunk(Delta(content=text))] if text else []
        if kind == "input_json_delta":
            ti = self._tools.get(index)
            fragment = str(delta.get("partial_json") or "")
            if ti is None or not fragment:
                return []
            self._tool_args[ti] = True
            return [self._tool_delta(ti, arguments=fragment)]
        return []  # thinking and signature deltas are not part of the answer
