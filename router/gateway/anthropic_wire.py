"""Anthropic's Messages API inbound: its request to the router's call, answers back.

A Messages request becomes the OpenAI-shaped call the router takes: ``system``
becomes a system message, ``tool_use`` blocks tool calls, ``tool_result``
blocks tool messages, images data URLs. The answer goes back as a ``message``
object, or as Anthropic's event sequence: ``message_start``, ``ping``, one
``content_block_start`` / ``content_block_delta`` ... / ``content_block_stop``
per text or tool-use block, ``message_delta`` (stop reason, usage),
``message_stop`` — or an ``error`` event when the stream fails midway.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..types import ChatResponse, Usage
from .body import dumps
from .errors import GatewayError, anthropic_body, classify
from .openai_wire import ChatCall

if TYPE_CHECKING:
    from ..client import AsyncStream

__all__ = ["ANTHROPIC", "AnthropicWire", "message_json", "parse_messages"]

_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_KNOWN = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "metadata",
        "stream",
        "service_tier",
    }
)


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def _text_of(blocks: object, where: str) -> str:
    """A string, or the text of a list of text blocks."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise _bad(f"{where} must be a string or a list of text blocks", where)
    out = []
    for i, b in enumerate(blocks):
        if not isinstance(b, dict) or b.get("type") != "text" or not isinstance(b.get("text"), str):
            raise _bad(f"{where}[{i}] must be a text block", where)
        out.append(b["text"])
    return "".join(out)


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    src = block.get("source")
    if isinstance(src, dict) and src.get("type") == "base64":
        url = f"data:{src.get('media_type', '')};base64,{src.get('data', '')}"
    elif isinstance(src, dict) and src.get("type") == "url" and isinstance(src.get("url"), str):
        url = src["url"]
    else:
        raise _bad(f"{where}: an image source is base64 or url", where)
    return {"type": "image_url", "image_url": {"url": url}}


def _user(content: list[Any], where: str) -> list[dict[str, Any]]:
    """A user turn: tool results (each a tool message) first, then the rest."""
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, b in enumerate(content):
        at = f"{where}[{i}]"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text" and isinstance(b.get("text"), str):
            parts.append({"type": "text", "text": b["text"]})
        elif kind == "image":
            parts.append(_image(b, at))
        elif kind == "tool_result":
            call_id = b.get("tool_use_id")
            if not isinstance(call_id, str):
                raise _bad(f"{at}.tool_use_id is required", at)
            result = b.get("content", "")
            text = _text_of(result, f"{at}.content")
            if b.get("is_error"):
                text = f"error: {text}"
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
        else:
            raise _bad(f"{at}: unsupported content block for a user turn", at)
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, b in enumerate(content):
        at = f"{where}[{i}]"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text" and isinstance(b.get("text"), str):
            text.append(b["text"])
        elif kind == "tool_use":
            if not isinstance(b.get("id"), str) or not isinstance(b.get("name"), str):
                raise _bad(f"{at}: a tool_use block needs id and name", at)
            args = json.dumps(b.get("input", {}), ensure_ascii=False)
            calls.append(
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": args},
                }
            )
        else:
            raise _bad(f"{at}: unsupported content block for an assistant turn", at)
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _tools(tools: object) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise _bad("tools must be a list", "tools")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or t.get("type", "custom") != "custom":
            raise _bad(f"tools[{i}]: only custom tools (name, input_schema) are supported", "tools")
        if not isinstance(t.get("name"), str) or not isinstance(t.get("input_schema"), dict):
            raise _bad(f"tools[{i}] needs name and input_schema", "tools")
        fn: dict[str, Any] = {"name": t["name"], "parameters": t["input_schema"]}
        if isinstance(t.get("description"), str):
            fn["description"] = t["description"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: object) -> str | dict[str, Any]:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and isinstance(choice, dict) and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("tool_choice is {type: auto | any | none | tool, name}", "tool_choice")


def parse_messages(body: object) -> ChatCall:
    """The call a Messages request body asks for; 400 :class:`GatewayError` naming the field."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    for name, value in body.items():
        if name not in _KNOWN and value is not None:
            raise _bad(f"unsupported parameter: {name}", name)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required (a route or model name)", "model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _bad("max_tokens is required (a whole number >= 1)", "max_tokens")
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise _bad("messages must be a non-empty list", "messages")
    messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        messages.append({"role": "system", "content": _text_of(body["system"], "system")})
    for i, m in enumerate(turns):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise _bad(f"{where}.role must be user or assistant", where)
        content = m.get("content")
        if isinstance(content, str):
            messages.append({"role": m["role"], "content": content})
        elif isinstance(content, list):
            at = f"{where}.content"
            if m["role"] == "user":
                messages.extend(_user(content, at))
            else:
                messages.append(_assistant(content, at))
        else:
            raise _bad(f"{where}.content must be a string or a list of blocks", where)
    params: dict[str, Any] = {"max_tokens": max_tokens}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            params[name] = body[name]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _bad("stop_sequences must be a list of strings", "stop_sequences")
        params["stop"] = stops
    if body.get("tools") is not None:
        params["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        params["tool_choice"] = _tool_choice(body["tool_choice"])
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream must be true or false", "stream")
    meta = body.get("metadata")
    user = meta.get("user_id") if isinstance(meta, dict) else None
    return ChatCall(model=model, messages=messages, params=params, stream=bool(stream), user=user)


def _usage(u: Usage | None) -> dict[str, int]:
    u = u or Usage()
    # Anthropic counts cache reads and writes apart from input_tokens; the router includes them.
    fresh = max(0, u.prompt_tokens - u.cached_tokens - u.cache_write_tokens)
    return {
        "input_tokens": fresh,
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    }


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}


def message_json(resp: ChatResponse, model: str, fallback_id: str) -> bytes:
    """A ``message`` object for a whole answer."""
    choice = resp.choices[0] if resp.choices else None
    content: list[dict[str, Any]] = []
    if choice is not None and choice.message.content:
        content.append({"type": "text", "text": choice.message.content})
    for tc in (choice.message.tool_calls if choice else None) or []:
        content.append(
            {
                "type": "tool_use",
                "id": tc.id,
                "name": tc.function.name,
                "input": _input(tc.function.arguments),
            }
        )
    finish = choice.finish_reason if choice else None
    return dumps(
        {
            "id": _msg_id(resp.id, fallback_id),
            "type": "message",
            "role": "assistant",
            "model": resp.model or model,
            "content": content,
            "stop_reason": _STOP.get(finish or "stop", "end_turn"),
            "stop_sequence": None,
            "usage": _usage(resp.usage),
        }
    )


def _msg_id(upstream: str, fallback_id: str) -> str:
    return (
        upstream if upstream.startswith("msg_") else "msg_" + fallback_id.removeprefix("chatcmpl-")
    )


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps({"type": name, **data}) + b"\n\n"


class _Blocks:
    """Turns OpenAI-shaped chunks into Anthropic content-block events."""

    def __init__(self) -> None:
        self.index = -1
        self.open: tuple[str, int] | None = None  # ("text", 0) or ("tool", tool_call index)
        self.finish: str | None = None

    def _start(self, key: tuple[str, int], block: dict[str, Any]) -> list[bytes]:
        out = self.close()
        self.index += 1
        self.open = key
        out.append(_event("content_block_start", {"index": self.index, "content_block": block}))
        return out

    def close(self) -> list[bytes]:
        """The stop event of the open block, if one is open."""
        if self.open is None:
            return []
        self.open = None
        return [_event("content_block_stop", {"index": self.index})]

    def feed(self, chunk: Any) -> list[bytes]:
        out: list[bytes] = []
        for ch in chunk.choices[:1]:
            d = ch.delta
            if d.content:
                if self.open != ("text", 0):
                    out += self._start(("text", 0), {"type": "text", "text": ""})
                delta = {"type": "text_delta", "text": d.content}
                out.append(_event("content_block_delta", {"index": self.index, "delta": delta}))
            for tc in d.tool_calls or []:
                fn = tc.function or {}
                if self.open != ("tool", tc.index):
                    block: dict[str, Any] = {
                        "type": "tool_use",
                        "id": tc.id or f"toolu_{self.index + 1}",
                        "name": fn.get("name") or "",
                        "input": {},
                    }
                    out += self._start(("tool", tc.index), block)
                if fn.get("arguments"):
                    delta = {"type": "input_json_delta", "partial_json": fn["arguments"]}
                    out.append(_event("content_block_delta", {"index": self.index, "delta": delta}))
            if ch.finish_reason:
                self.finish = ch.finish_reason
        return out


class AnthropicWire:
    """``/v1/messages``: Anthropic's request, message, events and error bodies."""

    def parse(self, body: object) -> ChatCall:
        """See :func:`parse_messages`."""
        return parse_messages(body)

    def error_body(self, err: GatewayError) -> bytes:
        """See :func:`~router.gateway.errors.anthropic_body`."""
        return anthropic_body(err)

    def response(self, resp: ChatResponse, call: ChatCall, fallback_id: str) -> bytes:
        """See :func:`message_json`."""
        return message_json(resp, call.model, fallback_id)

    async def events(
        self, stream: AsyncStream, call: ChatCall, fallback_id: str
    ) -> AsyncIterator[bytes]:
        """Anthropic's event sequence for one streamed answer (or an ``error`` event)."""
        blocks = _Blocks()
        started = False

        def start(upstream_id: str, model: str) -> list[bytes]:
            message: dict[str, Any] = {
                "id": _msg_id(upstream_id, fallback_id),
                "type": "message",
                "role": "assistant",
                "model": model or call.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            return [_event("message_start", {"message": message}), _event("ping", {})]

        try:
            async for c in stream:
                if not started:
                    started = True
                    for frame in start(c.id, c.model):
                        yield frame
                for frame in blocks.feed(c):
                    yield frame
            if not started:  # an answer without a single chunk is still a whole sequence
                started = True
                for frame in start("", ""):
                    yield frame
            for frame in blocks.close():
                yield frame
            usage = _usage(stream.response.usage)
            delta = {
                "stop_reason": _STOP.get(blocks.finish or "stop", "end_turn"),
                "stop_sequence": None,
            }
            yield _event("message_delta", {"delta": delta, "usage": usage})
            yield _event("message_stop", {})
        except Exception as e:
            err = classify(e)
            body = json.loads(anthropic_body(err))
            yield _event("error", {"error": body["error"]})


ANTHROPIC = AnthropicWire()
"""The Anthropic Messages wire (stateless)."""
