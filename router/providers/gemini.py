"""The Google Gemini ``generateContent`` wire format (v1beta).

``POST {host}/v1beta/models/{model}:generateContent`` (or
``:streamGenerateContent?alt=sse``) with ``x-goog-api-key``. Translation
from OpenAI's shape: roles ``user``/``model``; system messages become
``systemInstruction``; parameters go in ``generationConfig``; tools become
``functionDeclarations`` (``parametersJsonSchema``, full JSON Schema);
JSON-schema output is ``responseMimeType`` + ``responseJsonSchema``.

Gemini function calls carry no call id the OpenAI shape can rely on, so the
adapter synthesises a stable one and maps a tool result back to its call by
function name. Gemini 3 also requires each turn's first function call to come
back with the ``thoughtSignature`` it was issued with: the adapter remembers
the signatures it has seen (per provider, bounded, in memory) by call id and
sends the documented placeholder for calls it never saw (history from another
provider, or from before a restart).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..errors import InvalidRequestError, ProviderError, ProviderUnavailable
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
    synth_call_id,
    tool_function,
    tool_names_by_id,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "PLACEHOLDER_SIGNATURE",
    "GeminiAdapter",
    "GeminiStreamDecoder",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
"""Google's documented stand-in for a function call whose real signature is unknown."""

_SIGNATURES_KEPT = 4096
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def finish_reason(reason: str | None, called_tools: bool) -> str | None:
    """Gemini ``finishReason`` as an OpenAI ``finish_reason``."""
    if reason is None:
        return None
    if reason in _FILTERED:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    return "tool_calls" if called_tools else "stop"


def usage_from(u: Mapping[str, Any] | None) -> Usage | None:
    """``usageMetadata``: output is candidates plus thoughts; cached is part of the prompt."""
    if not u:
        return None
    prompt = int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0)
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    out = int(u.get("candidatesTokenCount") or 0) + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=out,
        total_tokens=int(u.get("totalTokenCount") or prompt + out),
        cached_tokens=int(u.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def _error_parts(err: Mapping[str, Any]) -> tuple[str, str | None, dict[str, str], bool]:
    """(message, code, synthetic headers, bad key) from a Google error object."""
    message = str(err.get("message") or "")
    code = str(err["status"]) if err.get("status") else None
    headers: dict[str, str] = {}
    bad_key = False
    for d in err.get("details") or ():
        if not isinstance(d, Mapping):
            continue
        delay = d.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            headers["retry-after"] = delay[:-1]
        if d.get("reason") == "API_KEY_INVALID":
            bad_key = True
    low = message.lower()
    if "token count" in low and "exceed" in low:
        code = "context_length_exceeded"
    return message, code, headers, bad_key or "api key not valid" in low


def _error(err: Any, status: int | None, headers: Mapping[str, str]) -> ProviderError:
    if not isinstance(err, Mapping):
        return error_for_status(status or 503, str(err), None, headers, provider="gcp.gemini")
    message, code, extra, bad_key = _error_parts(err)
    if status is None:
        raw = err.get("code")
        status = int(raw) if isinstance(raw, int) else 503
    if bad_key:
        # Google answers an invalid key with 400 INVALID_ARGUMENT: classify it
        # as the authentication failure it is, keep the status it really had.
        auth = error_for_status(401, message, "API_KEY_INVALID", {}, provider="gcp.gemini")
        auth.status = status
        return auth
    return error_for_status(status, message, code, {**extra, **headers}, provider="gcp.gemini")


class _Signatures:
    """Thought signatures by synthesised call id (bounded; shared by one adapter's calls)."""

    def __init__(self) -> None:
        self._map: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, call_id: str, signature: str) -> None:
        with self._lock:
            self._map[call_id] = signature
            self._map.move_to_end(call_id)
            while len(self._map) > _SIGNATURES_KEPT:
                self._map.popitem(last=False)

    def get(self, call_id: str) -> str | None:
        with self._lock:
            return self._map.get(call_id)


class _Calls:
    """Function-call parts to OpenAI tool calls, one response (or stream) at a time."""

    def __init__(self, signatures: _Signatures) -> None:
        self._signatures = signatures
        self.count = 0

    def call(self, response_id: str, part: Mapping[str, Any]) -> ToolCall:
        fc = part.get("functionCall") or {}
        name = str(fc.get("name") or "")
        args = arguments_text(fc.get("args"))
        call_id = str(fc.get("id") or "") or synth_call_id(response_id, self.count, name, args)
        self.count += 1
        sig = part.get("thoughtSignature")
        if isinstance(sig, str) and sig:
            self._signatures.put(call_id, sig)
        return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=args))


# -- request ---------------------------------------------------------------


def _user_parts(m: Message) -> list[dict[str, Any]]:
    if m.content is None:
        return []
    if isinstance(m.content, str):
        return [{"text": m.content}] if m.content else []
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if p.get("type") == "text" and p.get("text"):
            parts.append({"text": str(p["text"])})
        elif p.get("type") == "image_url":
            url = str((p.get("image_url") or {}).get("url", ""))
            inline = data_url(url)
            if inline:
                parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            else:
                parts.append({"fileData": {"fileUri": url}})
    return parts


def _tool_response(m: Message, names: Mapping[str, str]) -> dict[str, Any]:
    name = names.get(m.tool_call_id or "") or m.name
    if not name:
        raise InvalidRequestError(
            f"tool message answers unknown call {m.tool_call_id!r}: Gemini needs the "
            "function name, so keep the assistant turn that made the call in the history",
            code="unknown_tool_call",
        )
    text = m.text()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _model_parts(m: Message, signatures: _Signatures) -> list[dict[str, Any]]:
    parts = _user_parts(m)
    for i, tc in enumerate(m.tool_calls or ()):
        part: dict[str, Any] = {
            "functionCall": {
                "name": tc.function.name,
                "args": arguments_object(tc.function.arguments, name=tc.function.name),
            }
        }
        sig = signatures.get(tc.id)
        if sig is None and i == 0:
            sig = PLACEHOLDER_SIGNATURE  # Gemini 3 rejects a turn's first call without one
        if sig is not None:
            part["thoughtSignature"] = sig
        parts.append(part)
    return parts


def contents_and_system(
    request: ChatRequest, signatures: _Signatures
) -> tuple[list[dict[str, Any]], str | None]:
    """Gemini ``contents`` (same-role turns merged) and the system instruction text."""
    names = tool_names_by_id(request.messages)
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role in ("system", "developer"):
            if m.text():
                system.append(m.text())
            continue
        if m.role == "tool":
            role, parts = "user", [_tool_response(m, names)]
        elif m.role == "assistant":
            role, parts = "model", _model_parts(m, signatures)
        else:
            role, parts = "user", _user_parts(m)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents, ("\n\n".join(system) if system else None)


def _declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        fn = tool_function(t)
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        if fn.get("parameters"):
            decl["parametersJsonSchema"] = fn["parameters"]
        out.append(decl)
    return out


def _tool_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        cfg: dict[str, Any] = {"mode": "ANY"}
        if name:
            cfg["allowedFunctionNames"] = [name]
        return {"functionCallingConfig": cfg}
    mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice, "AUTO")
    return {"functionCallingConfig": {"mode": mode}}


class GeminiAdapter(Adapter):
    """``generateContent`` / ``streamGenerateContent?alt=sse`` with ``x-goog-api-key``."""

    kind = "gemini"
    provider_name = "gcp.gemini"

    def __init__(self) -> None:
        self._signatures = _Signatures()

    def build_request(
        self, endpoint: Endpoint, request: ChatRequest, *, stream: bool
    ) -> HttpRequest:
        contents, system = contents_and_system(request, self._signatures)
        body: dict[str, Any] = dict(endpoint.extra_body)
        body["contents"] = contents
        if system is not None:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if request.tools:
            body["tools"] = [{"functionDeclarations": _declarations(request.tools)}]
            if request.tool_choice is not None:
                body["toolConfig"] = _tool_config(request.tool_choice)
        config: dict[str, Any] = dict(body.get("generationConfig") or {})
        max_tokens = request.max_tokens or endpoint.default_max_tokens
        if max_tokens is not None:
            config["maxOutputTokens"] = max_tokens
        for name, key in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed")):
            if (value := getattr(request, name)) is not None:
                config[key] = value
        if (stops := stop_list(request.stop)) is not None:
            config["stopSequences"] = stops
        fmt, schema = json_schema_of(request)
        if fmt is not None:
            config["responseMimeType"] = "application/json"
            if schema is not None:
                config["responseJsonSchema"] = schema
        if config:
            body["generationConfig"] = config
        model = endpoint.model_id.removeprefix("models/")
        base = (endpoint.base_url or DEFAULT_BASE_URL).rstrip("/")
        version = endpoint.api_version or API_VERSION
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{base}/{version}/models/{quote(model, safe='-._~')}:{method}"
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        headers.update(endpoint.headers)
        if endpoint.api_key:
            headers["x-goog-api-key"] = endpoint.api_key
        return HttpRequest("POST", url, headers, body)

    def parse_response(self, body: bytes) -> ChatResponse:
        obj = object_or_fail(loads_json(body), "response")
        if "error" in obj and "candidates" not in obj:
            raise _error(obj["error"], None, {})
        response_id = str(obj.get("responseId") or "")
        calls = _Calls(self._signatures)
        choices = []
        for pos, cand in enumerate(obj.get("candidates") or ()):
            if not isinstance(cand, Mapping):
                continue
            text: list[str] = []
            tool_calls: list[ToolCall] = []
            for part in (cand.get("content") or {}).get("parts") or ():
                if not isinstance(part, Mapping) or part.get("thought"):
                    continue  # thought summaries are not part of the answer
                if "functionCall" in part:
                    tool_calls.append(calls.call(response_id, part))
                elif isinstance(part.get("text"), str):
                    text.append(part["text"])
            message = ChoiceMessage(
                content="".join(text) if text or not tool_calls else None,
                tool_calls=tool_calls or None,
            )
            reason = finish_reason(cand.get("finishReason"), bool(tool_calls))
            choices.append(
                Choice(index=int(cand.get("index") or pos), message=message, finish_reason=reason)
            )
        if not choices:
            if not (obj.get("promptFeedback") or {}).get("blockReason"):
                raise ProviderUnavailable("response has no candidates", code="malformed_response")
            # The prompt itself was blocked: an empty, filtered answer.
            choices.append(
                Choice(message=ChoiceMessage(content=""), finish_reason="content_filter")
            )
        return ChatResponse(
            id=response_id,
            model=str(obj.get("modelVersion") or ""),
            choices=choices,
            usage=usage_from(obj.get("usageMetadata")),
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        try:
            obj = loads_json(body, "error body")
        except ProviderError:
            obj = None
        err = obj.get("error") if isinstance(obj, Mapping) else None
        if isinstance(err, Mapping):
            return _error(err, status, headers)
        return error_for_status(status, f"HTTP {status}", None, headers, provider="gcp.gemini")

    def stream_decoder(self) -> StreamDecoder:
        return GeminiStreamDecoder(self._signatures)


class GeminiStreamDecoder(SSEDecoder):
    """SSE ``data:`` records, each a partial ``GenerateContentResponse``; no terminator.

    The stream is complete once a candidate reported its ``finishReason``;
    the last ``usageMetadata`` seen is sent as a final usage chunk at the end.
    """

    def __init__(self, signatures: _Signatures | None = None) -> None:
        super().__init__()
        self._calls = _Calls(signatures or _Signatures())
        self._tool_index: dict[int, int] = {}  # candidate -> tool calls so far
        self._id = ""
        self._model = ""
        self._usage: Usage | None = None
        self._finished = False

    @property
    def done(self) -> bool:
        return self._finished

    def close(self) -> list[ChatChunk]:
        out = self._flush()
        if not self._finished:
            raise ProviderUnavailable("stream ended before completion", code="stream_truncated")
        if self._usage is not None:
            out.append(ChatChunk(id=self._id, model=self._model, usage=self._usage))
        return out

    def _data(self, data: str) -> list[ChatChunk]:
        obj = object_or_fail(loads_json(data, "stream chunk"), "stream chunk")
        if "error" in obj:
            raise _error(obj["error"], None, {})
        self._id = str(obj.get("responseId") or self._id)
        self._model = str(obj.get("modelVersion") or self._model)
        if obj.get("usageMetadata"):
            self._usage = usage_from(obj["usageMetadata"])
        choices: list[ChunkChoice] = []
        for pos, cand in enumerate(obj.get("candidates") or ()):
            if isinstance(cand, Mapping):
                choices.append(self._candidate(int(cand.get("index") or pos), cand))
        if not obj.get("candidates") and (obj.get("promptFeedback") or {}).get("blockReason"):
            choices.append(ChunkChoice(delta=Delta(content=""), finish_reason="content_filter"))
            self._finished = True
        if not choices:
            return []
        return [ChatChunk(id=self._id, model=self._model, choices=choices)]

    def _candidate(self, index: int, cand: Mapping[str, Any]) -> ChunkChoice:
        text: list[str] = []
        deltas: list[ToolCallDelta] = []
        for part in (cand.get("content") or {}).get("parts") or ():
            if not isinstance(part, Mapping) or part.get("thought"):
                continue
            if "functionCall" in part:
                call = self._calls.call(self._id, part)
                ti = self._tool_index.get(index, 0)
                self._tool_index[index] = ti + 1
                deltas.append(
                    ToolCallDelta(
                        index=ti,
                        id=call.id,
                        type="function",
                        function={"name": call.function.name, "arguments": call.function.arguments},
                    )
                )
            elif isinstance(part.get("text"), str):
                text.append(part["text"])
        reason = cand.get("finishReason")
        if reason:
            self._finished = True
        delta = Delta(content="".join(text) or None, tool_calls=deltas or None)
        return ChunkChoice(
            index=index,
            delta=delta,
            finish_reason=finish_reason(reason, self._tool_index.get(index, 0) > 0),
        )
