"""The OpenAI Chat Completions wire format, spoken by OpenAI and by most
self-hosted and hosted inference servers (vLLM, llama.cpp, Ollama's /v1, …).

Server differences are :class:`~router.providers.presets.Quirks`, not code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import ProviderError, ProviderUnavailable
from ..types import ChatChunk, ChatRequest, ChatResponse, Usage
from .base import Adapter, Endpoint, HttpRequest, SSEDecoder, StreamDecoder, loads_json
from .errors_map import error_for_status
from .translate import arguments_text

__all__ = [
    "OpenAICompatibleAdapter",
    "OpenAIStreamDecoder",
    "chunk_from_dict",
    "response_from_dict",
    "usage_from_dict",
]


def usage_from_dict(u: Mapping[str, Any] | None) -> Usage | None:
    """OpenAI usage (with its detail objects) as :class:`Usage`."""
    if not u:
        return None
    prompt = int(u.get("prompt_tokens") or 0)
    completion = int(u.get("completion_tokens") or 0)
    details = u.get("prompt_tokens_details") or {}
    cdetails = u.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(u.get("total_tokens") or prompt + completion),
        cached_tokens=int(details.get("cached_tokens") or 0),
        reasoning_tokens=int(cdetails.get("reasoning_tokens") or 0),
    )


def _text_parts(parts: list[Any]) -> str | None:
    """Content sent as a list of parts (Mistral's reasoning models: ``thinking`` and
    ``text`` chunks) as its text; thinking is not part of the answer."""
    texts = [
        str(p.get("text") or "")
        for p in parts
        if isinstance(p, Mapping) and p.get("type") == "text"
    ]
    return "".join(texts) if texts else None


def _tool_call(tc: Any) -> Any:
    fn = tc.get("function") if isinstance(tc, Mapping) else None
    if isinstance(fn, Mapping) and not isinstance(fn.get("arguments"), str | None):
        # TGI sends the arguments as a JSON value, not as the JSON text of one.
        return {**tc, "function": {**fn, "arguments": arguments_text(fn["arguments"])}}
    return tc


def _conform(choices: Any, key: str) -> Any:
    """``choices`` with each ``message``/``delta`` read as OpenAI's schema means it:
    list content as its text, tool-call arguments as a JSON string."""
    if not isinstance(choices, list):
        return choices
    out = []
    for c in choices:
        m = c.get(key) if isinstance(c, Mapping) else None
        if isinstance(m, Mapping):
            m = dict(m)
            if isinstance(m.get("content"), list):
                m["content"] = _text_parts(m["content"])
            if isinstance(m.get("tool_calls"), list):
                m["tool_calls"] = [_tool_call(tc) for tc in m["tool_calls"]]
            c = {**c, key: m}
        out.append(c)
    return out


def _malformed(what: str) -> ProviderUnavailable:
    # The validation details are not kept: they quote the reply's content.
    return ProviderUnavailable(f"{what} does not fit the OpenAI schema", code="malformed_response")


def response_from_dict(d: Mapping[str, Any]) -> ChatResponse:
    """A ``chat.completion`` object as :class:`ChatResponse`."""
    data = dict(d)
    try:
        data["usage"] = usage_from_dict(d.get("usage"))
        data.pop("route", None)
        if data.get("created") is None:
            data["created"] = 0
        data["choices"] = _conform(data.get("choices", []), "message")
        return ChatResponse.model_validate(data)
    except (ValueError, TypeError, AttributeError):  # ValidationError is a ValueError
        raise _malformed("response") from None


def chunk_from_dict(d: Mapping[str, Any]) -> ChatChunk:
    """A ``chat.completion.chunk`` object as :class:`ChatChunk`."""
    data = dict(d)
    try:
        data["usage"] = usage_from_dict(d.get("usage"))
        if data.get("created") is None:
            data["created"] = 0
        data["choices"] = _conform(data.get("choices", []), "delta")
        return ChatChunk.model_validate(data)
    except (ValueError, TypeError, AttributeError):  # ValidationError is a ValueError
        raise _malformed("stream chunk") from None


def stream_error(err: Any) -> ProviderError:
    """An ``error`` payload received inside a 200 stream."""
    if isinstance(err, Mapping):
        message = str(err.get("message") or "error in stream")
        code = err.get("code") or err.get("type")
        code = str(code) if code is not None else None
    else:
        message, code = str(err), None
    status = 429 if code and "rate" in code else 503
    return error_for_status(status, message, code, {})


# A chunk without an error payload, a usage object or tool-call arguments sent
# as a JSON value maps field for field onto ChatChunk, so it is validated
# straight from its JSON text (one pass in pydantic-core instead of json.loads,
# a dict copy and a validation). Anything else, or anything the fast path
# rejects, takes the general path below.
_USAGE_OBJECT = re.compile(r'"usage"\s*:\s*\{')
_ARGUMENTS_VALUE = re.compile(r'"arguments"\s*:\s*[^\s"n]')


class OpenAIStreamDecoder(SSEDecoder):
    """SSE ``data:`` chunks until ``[DONE]``; an ``error`` payload raises."""

    __slots__ = ("_done", "_finished")

    def __init__(self) -> None:
        super().__init__()
        self._done = False
        self._finished = False

    @property
    def done(self) -> bool:
        return self._done

    def close(self) -> list[ChatChunk]:
        out = self._flush()
        # A stream that saw finish_reason but lost [DONE] lost at most a usage
        # chunk; one that saw neither was cut mid-answer.
        if not self._done and not self._finished:
            raise ProviderUnavailable("stream ended before completion", code="stream_truncated")
        return out

    def _data(self, data: str) -> list[ChatChunk]:
        if data.strip() == "[DONE]":
            self._done = True
            return []
        if (
            '"error"' not in data
            and ('"usage"' not in data or not _USAGE_OBJECT.search(data))
            and ('"arguments"' not in data or not _ARGUMENTS_VALUE.search(data))
        ):
            try:
                # The validator itself: model_validate_json's wrapper costs a fifth as much again.
                fast: ChatChunk = ChatChunk.__pydantic_validator__.validate_json(data)
            except ValidationError:
                pass  # malformed, or e.g. ``"created": null``: the general path decides
            else:
                return [self._seen(fast)]
        obj = loads_json(data, "stream chunk")
        if not isinstance(obj, dict):
            raise ProviderUnavailable("malformed stream chunk", code="malformed_response")
        if obj.get("error"):  # ``"error": null`` (or empty) is no error, as in openai-python
            raise stream_error(obj["error"])
        return [self._seen(chunk_from_dict(obj))]

    def _seen(self, chunk: ChatChunk) -> ChatChunk:
        for c in chunk.choices:
            if c.finish_reason:
                self._finished = True
        return chunk


class OpenAICompatibleAdapter(Adapter):
    """``POST {base_url}/chat/completions`` with a bearer key."""

    kind = "openai_compatible"

    def __init__(self, provider_name: str = "openai") -> None:
        self.provider_name = provider_name

    def build_request(
        self, endpoint: Endpoint, request: ChatRequest, *, stream: bool
    ) -> HttpRequest:
        body: dict[str, Any] = dict(endpoint.extra_body)
        body["model"] = endpoint.model_id
        body["messages"] = [m.to_wire() for m in request.messages]
        q = endpoint.quirks
        max_tokens = request.max_tokens or endpoint.default_max_tokens
        if max_tokens is not None:
            body[q.max_tokens_field] = max_tokens
        for name in ("temperature", "top_p", "stop", "tools", "response_format", "seed", "user"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.tool_choice is not None and q.tool_choice:
            body["tool_choice"] = request.tool_choice
        if stream:
            body["stream"] = True
            if q.stream_usage:
                body["stream_options"] = {"include_usage": True}
        headers = {"content-type": "application/json", "accept": "application/json"}
        if stream:
            headers["accept"] = "text/event-stream"
        headers.update(endpoint.headers)
        if endpoint.api_key:
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        return HttpRequest(
            "POST", endpoint.base_url.rstrip("/") + "/chat/completions", headers, body
        )

    def parse_response(self, body: bytes) -> ChatResponse:
        obj = loads_json(body)
        if not isinstance(obj, dict):
            raise ProviderUnavailable("response is not a JSON object", code="malformed_response")
        if obj.get("error") and "choices" not in obj:
            raise stream_error(obj["error"])
        if "choices" not in obj:
            raise ProviderUnavailable("response has no choices", code="malformed_response")
        return response_from_dict(obj)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        message, code = f"HTTP {status}", None
        try:
            obj = loads_json(body, "error body")
        except ProviderError:
            obj = None
        if isinstance(obj, dict):
            err = obj.get("error", obj)
            if isinstance(err, dict):
                message = str(err.get("message") or err.get("detail") or message)
                raw = err.get("code") or err.get("type")
                code = str(raw) if raw is not None else None
            elif isinstance(err, str):
                message = err
        return error_for_status(status, message, code, headers, provider=self.provider_name)

    def stream_decoder(self) -> StreamDecoder:
        return OpenAIStreamDecoder()
