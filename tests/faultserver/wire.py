"""Wire shapes the fault server speaks: OpenAI, Anthropic, Ollama and Gemini bodies and streams."""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "WIRES",
    "error_body",
    "error_frame",
    "is_stream",
    "ok_body",
    "stream_frames",
    "wire_for_path",
]

WIRES = ("openai", "anthropic", "ollama", "gemini")


def wire_for_path(path: str) -> str | None:
    """Which protocol a request path speaks (``None``: unknown path)."""
    path = path.split("?", 1)[0]
    if path.endswith((":generateContent", ":streamGenerateContent")):
        return "gemini"
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/api/chat"):
        return "ollama"
    return None


def is_stream(wire: str, path: str, body: Any) -> bool:
    """Whether a request asks for a stream (Gemini says so in its URL, Ollama by default)."""
    if wire == "gemini":
        return ":streamGenerateContent" in path
    return bool(isinstance(body, dict) and body.get("stream", wire == "ollama"))


def _gemini(model: str, parts: list[dict[str, Any]], finish: bool, n: int = 0) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    obj: dict[str, Any] = {"candidates": [cand], "modelVersion": model, "responseId": "fault"}
    if finish:
        cand["finishReason"] = "STOP"
        obj["usageMetadata"] = {
            "promptTokenCount": 5,
            "candidatesTokenCount": n,
            "totalTokenCount": 5 + n,
        }
    return obj


def _pieces(text: str, size: int = 0) -> list[str]:
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def ok_body(wire: str, model: str, text: str) -> bytes:
    """A complete non-streamed answer."""
    n = max(1, len(text) // 4)
    if wire == "openai":
        obj: dict[str, Any] = {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n},
        }
    elif wire == "anthropic":
        obj = {
            "id": "msg_fault",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": n},
        }
    elif wire == "gemini":
        obj = _gemini(model, [{"text": text}], True, n)
    else:
        obj = {
            "model": model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 5,
            "eval_count": n,
        }
    return json.dumps(obj).encode()


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def stream_frames(wire: str, model: str, text: str, piece: int = 0) -> tuple[list[bytes], int]:
    """The framed events of a streamed answer, and the index of its first content frame."""
    pieces = _pieces(text, piece)
    if wire == "openai":

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(
                {
                    "id": "chatcmpl-fault",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        frames = [chunk({"role": "assistant", "content": ""})]
        frames += [chunk({"content": p}) for p in pieces]
        frames += [chunk({}, "stop"), _sse("[DONE]")]
        return frames, 1
    if wire == "anthropic":
        frames = [
            _sse(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_fault",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "usage": {"input_tokens": 5, "output_tokens": 1},
                    },
                },
                "message_start",
            ),
            _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        first = len(frames)
        frames += [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
                "content_block_delta",
            )
            for p in pieces
        ]
        frames += [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(pieces)},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return frames, first

    if wire == "gemini":
        frames = [_sse(_gemini(model, [{"text": p}], False)) for p in pieces]
        frames.append(_sse(_gemini(model, [{"text": ""}], True, len(pieces))))
        return frames, 0

    def line(obj: dict[str, Any]) -> bytes:
        return (json.dumps(obj) + "\n").encode()

    base = {"model": model, "created_at": "2026-01-01T00:00:00Z"}
    frames = [
        line({**base, "message": {"role": "assistant", "content": p}, "done": False})
        for p in pieces
    ]
    frames.append(
        line(
            {
                **base,
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 5,
                "eval_count": len(pieces),
            }
        )
    )
    return frames, 0


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


_GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _google_error(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUSES.get(status, "UNKNOWN"),
        }
    }


def error_body(wire: str, status: int, message: str, code: str | None) -> bytes:
    """An error response body in the protocol's own shape."""
    if wire == "gemini":
        # Google's errors carry no code of ours: say it in the message instead.
        return json.dumps(_google_error(status, f"{code}: {message}" if code else message)).encode()
    if wire == "anthropic":
        etype = code or _ANTHROPIC_TYPES.get(status, "api_error")
        return json.dumps({"type": "error", "error": {"type": etype, "message": message}}).encode()
    if wire == "ollama":
        return json.dumps({"error": message}).encode()
    return json.dumps(
        {"error": {"message": message, "type": code or "server_error", "code": code}}
    ).encode()


def error_frame(wire: str, message: str, code: str = "overloaded_error") -> bytes:
    """An error payload inside a 200 stream."""
    if wire == "gemini":
        return _sse(_google_error(503, message))
    if wire == "anthropic":
        return _sse({"type": "error", "error": {"type": code, "message": message}}, "error")
    if wire == "ollama":
        return (json.dumps({"error": message}) + "\n").encode()
    return _sse({"error": {"message": message, "type": "server_error", "code": code}})
