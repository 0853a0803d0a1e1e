"""OpenAI's Chat Completions on the wire: the request in, completions and SSE chunks out.

Bodies are built field by field in OpenAI's order and shape (``logprobs``,
``usage`` with its ``*_details``, a usage-only last chunk when
``stream_options.include_usage``), so the official SDKs parse them as they
parse OpenAI's. Parameters the router cannot honour are refused (400) unless
they hold their default value, which clients such as LangChain send anyway.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..types import ChatChunk, ChatResponse, Usage
from .body import dumps
from .errors import GatewayError, classify, openai_body

if TYPE_CHECKING:
    from ..client import AsyncStream

__all__ = [
    "DONE",
    "OPENAI",
    "ChatCall",
    "OpenAIWire",
    "chunk_json",
    "completion_json",
    "parse_chat",
    "sse",
    "usage_json",
]

DONE = b"data: [DONE]\n\n"

_PASSED = ("temperature", "top_p", "stop", "tools", "tool_choice", "response_format", "seed")
# Parameters accepted only at their default: anything else would silently change the answer.
_DEFAULTS: dict[str, tuple[object, ...]] = {
    "n": (1,),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "logprobs": (False,),
    "parallel_tool_calls": (True,),
    "store": (False,),
    "modalities": (["text"],),
}
_IGNORED = frozenset({"metadata", "service_tier", "prediction", "reasoning_effort"})
"""Hints that do not change what the router sends (``metadata`` is OpenAI's dashboard tags)."""


@dataclass
class ChatCall:
    """A parsed ``POST /v1/chat/completions`` body."""

    model: str
    messages: list[Any]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    user: object = None


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def parse_chat(body: object) -> ChatCall:
    """The call a request body asks for; :class:`GatewayError` 400 naming the bad field."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required (a route or model name)", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages must be a non-empty list", "messages")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream must be true or false", "stream")
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict) or not set(options) <= {"include_usage"}:
            raise _bad("stream_options supports only include_usage", "stream_options")
        include_usage = options.get("include_usage") is True
    params: dict[str, Any] = {k: body[k] for k in _PASSED if body.get(k) is not None}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    known = {"model", "messages", "stream", "stream_options", "user", "max_tokens"}
    known |= {"max_completion_tokens", *_PASSED, *_IGNORED}
    for name, value in body.items():
        if name in known or value is None:
            continue
        if name in _DEFAULTS:
            if value not in _DEFAULTS[name]:
                raise _bad(f"{name} is not supported by this gateway (only its default)", name)
            continue
        raise _bad(f"unsupported parameter: {name}", name)
    user = body.get("user")
    if isinstance(user, str):
        params["user"] = user  # for the provider too, as OpenAI's clients intend
    return ChatCall(
        model=model,
        messages=messages,
        params=params,
        stream=bool(stream),
        include_usage=include_usage,
        user=user,
    )


def sse(obj: object) -> bytes:
    """One server-sent event carrying ``obj`` as JSON."""
    return b"data: " + dumps(obj) + b"\n\n"


def usage_json(u: Usage | None) -> dict[str, Any] | None:
    """OpenAI's ``usage`` object."""
    if u is None:
        return None
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens or u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def completion_json(resp: ChatResponse, fallback_id: str) -> bytes:
    """A ``chat.completion`` body."""
    choices = []
    for c in resp.choices:
        m = c.message
        message: dict[str, Any] = {"role": m.role or "assistant", "content": m.content}
        message["refusal"] = m.refusal
        if m.tool_calls:
            message["tool_calls"] = [tc.model_dump() for tc in m.tool_calls]
        choices.append(
            {
                "index": c.index,
                "message": message,
                "logprobs": None,
                "finish_reason": c.finish_reason,
            }
        )
    return dumps(
        {
            "id": resp.id or fallback_id,
            "object": "chat.completion",
            "created": resp.created or int(time.time()),
            "model": resp.model,
            "choices": choices,
            "usage": usage_json(resp.usage),
            "system_fingerprint": None,
        }
    )


@dataclass
class ChunkIds:
    """What every chunk of one stream repeats: id, created, model (the first seen)."""

    id: str
    created: int = 0
    model: str = ""

    def take(self, c: ChatChunk) -> None:
        if not self.created:
            self.created = c.created or int(time.time())
        if not self.model and c.model:
            self.model = c.model


def _delta(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def chunk_json(c: ChatChunk, ids: ChunkIds, include_usage: bool) -> bytes | None:
    """A ``chat.completion.chunk`` event; ``None`` for a chunk with nothing to say.

    Upstream usage chunks are dropped: the gateway sends its own last chunk
    with the usage the router settled (the provider's or its bound).
    """
    if not c.choices:
        return None
    ids.take(c)
    choices = []
    for ch in c.choices:
        delta = _delta(ch.delta.model_dump())
        if ch.delta.tool_calls:
            delta["tool_calls"] = [
                {k: v for k, v in tc.model_dump().items() if v is not None}
                for tc in ch.delta.tool_calls
            ]
        choices.append(
            {
                "index": ch.index,
                "delta": delta,
                "logprobs": None,
                "finish_reason": ch.finish_reason,
            }
        )
    obj: dict[str, Any] = {
        "id": ids.id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": None,
        "choices": choices,
    }
    if include_usage:
        obj["usage"] = None
    return sse(obj)


def usage_chunk_json(u: Usage | None, ids: ChunkIds) -> bytes:
    """The last chunk of an ``include_usage`` stream: no choices, the usage."""
    return sse(
        {
            "id": ids.id,
            "object": "chat.completion.chunk",
            "created": ids.created or int(time.time()),
            "model": ids.model,
            "system_fingerprint": None,
            "choices": [],
            "usage": usage_json(u),
        }
    )


class OpenAIWire:
    """``/v1/chat/completions``: OpenAI's request, answers, SSE and error bodies."""

    def parse(self, body: object) -> ChatCall:
        """See :func:`parse_chat`."""
        return parse_chat(body)

    def error_body(self, err: GatewayError) -> bytes:
        """See :func:`~router.gateway.errors.openai_body`."""
        return openai_body(err)

    def response(self, resp: ChatResponse, call: ChatCall, fallback_id: str) -> bytes:
        """See :func:`completion_json`."""
        return completion_json(resp, fallback_id)

    async def events(
        self, stream: AsyncStream, call: ChatCall, fallback_id: str
    ) -> AsyncIterator[bytes]:
        """``data:`` chunks, the usage chunk if asked, ``[DONE]``; or an error event."""
        ids = ChunkIds(fallback_id)
        try:
            async for c in stream:
                frame = chunk_json(c, ids, call.include_usage)
                if frame is not None:
                    yield frame
            if call.include_usage:
                yield usage_chunk_json(stream.response.usage, ids)
        except Exception as e:
            # After the first byte the status is sent: the SDKs raise on an error event.
            err = classify(e)
            yield sse({"error": {"message": err.message, "type": err.type, "code": err.code}})
            return
        yield DONE


OPENAI = OpenAIWire()
"""The OpenAI wire (stateless)."""
