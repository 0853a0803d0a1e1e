"""The ``embedded`` provider: a GGUF model run in process by llama-cpp-python.

llama-cpp-python returns OpenAI-shaped dicts, so responses and chunks go
through the same parsing as the OpenAI-compatible adapter. A loaded model is
shared by every router in the process and used by one call at a time.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

from ..config.defaults import fetch_hint
from ..errors import ConfigError, ContextLengthExceeded, ProviderError, ProviderUnavailable
from ..providers.openai_compatible import chunk_from_dict, response_from_dict
from ..targets import Target
from ..types import ChatChunk, ChatRequest, ChatResponse

__all__ = ["EmbeddedSender"]

_DEFAULT_MAX_TOKENS = 256
_models: dict[tuple[str, int, int, int, str, bool], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def _close_all() -> None:
    # Free models before interpreter teardown; llama-cpp-python's own
    # finalizers fail noisily once its module globals are gone.
    with _models_lock:
        for llm, _ in _models.values():
            close = getattr(llm, "close", None)
            if close is not None:
                close()
        _models.clear()


atexit.register(_close_all)


def _load(t: Target, embedding: bool = False) -> tuple[Any, threading.Lock]:
    opts = t.provider_config.options
    path = t.model_id
    key = (
        path,
        int(opts.get("n_ctx", 2048)),
        int(opts.get("n_threads", 1)),
        int(opts.get("n_gpu_layers", 0)),
        str(opts.get("chat_format") or ""),
        embedding,
    )
    with _models_lock:
        hit = _models.get(key)
        if hit is not None:
            return hit
        if not Path(path).is_file():
            raise ProviderUnavailable(fetch_hint(path), code="model_missing", target=t.name)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ProviderUnavailable(
                "the embedded provider needs llama-cpp-python: "
                "pip install 'llm-policy-router[local]' (see scripts/install.sh)",
                code="engine_missing",
                target=t.name,
            ) from None
        settings: dict[str, Any] = {
            "model_path": path,
            "n_ctx": key[1],
            "n_threads": key[2],
            "n_gpu_layers": key[3],
            "chat_format": key[4] or None,
            "embedding": embedding,
            "verbose": False,
            **_pooling(opts, embedding),
        }
        llm = Llama(**settings)
        if embedding and int(llm.pooling_type()) == _POOLING_NONE:
            # A chat model declares no pooling: one vector per token is no
            # sentence embedding. Mean pooling is what sentence encoders use.
            llm.close()
            llm = Llama(**{**settings, "pooling_type": _POOLING["mean"]})
        hit = (llm, threading.Lock())
        _models[key] = hit
        return hit


_POOLING = {"mean": 1, "cls": 2, "last": 3}
"""``options.pooling`` → llama.cpp's ``LLAMA_POOLING_TYPE_*``."""
_POOLING_NONE = 0


def _pooling(opts: dict[str, Any], embedding: bool) -> dict[str, Any]:
    # Unset: the model's own pooling (an embedding GGUF declares it).
    name = opts.get("pooling")
    if not embedding or name is None:
        return {}
    if name not in _POOLING:
        raise ConfigError(
            f"unknown pooling {name!r}; use one of {', '.join(_POOLING)}",
            key="providers.options.pooling",
        )
    return {"pooling_type": _POOLING[name]}


def _kwargs(t: Target, request: ChatRequest, stream: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "messages": [m.to_wire() for m in request.messages],
        "max_tokens": request.max_tokens or t.max_output_tokens or _DEFAULT_MAX_TOKENS,
        "stream": stream,
    }
    for name in ("temperature", "top_p", "stop", "seed", "tools", "tool_choice"):
        v = getattr(request, name)
        if v is not None:
            kw[name] = v
    rf = request.response_format
    if rf:
        if rf.get("type") == "json_schema":
            kw["response_format"] = {
                "type": "json_object",
                "schema": (rf.get("json_schema") or {}).get("schema", {}),
            }
        elif rf.get("type") == "json_object":
            kw["response_format"] = {"type": "json_object"}
    return kw


def _engine_error(e: Exception, t: Target) -> ProviderError:
    text = str(e)
    if "context window" in text or "exceed context" in text or "context length" in text:
        return ContextLengthExceeded(
            text[:300], code="context_length_exceeded", target=t.name, provider=t.provider_name
        )
    return ProviderUnavailable(
        f"{type(e).__name__}: {text[:300]}", target=t.name, provider=t.provider_name
    )


class EmbeddedSender:
    """Runs calls in process; the async methods run them in a worker thread."""

    def complete(self, t: Target, request: ChatRequest) -> ChatResponse:
        """One non-streaming call."""
        llm, lock = _load(t)
        try:
            with lock:
                out = llm.create_chat_completion(**_kwargs(t, request, stream=False))
        except (ValueError, RuntimeError) as e:  # llama_decode failures are RuntimeError
            raise _engine_error(e, t) from None
        return response_from_dict(out)

    def stream(self, t: Target, request: ChatRequest) -> Generator[ChatChunk, None, None]:
        """Chunks as the model produces them (holding the model for the whole stream)."""
        llm, lock = _load(t)
        with lock:
            try:
                it = llm.create_chat_completion(**_kwargs(t, request, stream=True))
                for d in it:
                    yield chunk_from_dict(d)
            except (ValueError, RuntimeError) as e:  # llama_decode failures are RuntimeError
                raise _engine_error(e, t) from None

    def embed(self, t: Target, inputs: list[str]) -> Any:
        """``create_embedding`` on the model loaded in embedding mode: an OpenAI-shaped dict."""
        llm, lock = _load(t, embedding=True)
        try:
            with lock:
                return llm.create_embedding(inputs)
        except (ValueError, RuntimeError) as e:  # llama_decode failures are RuntimeError
            raise _engine_error(e, t) from None

    async def aembed(self, t: Target, inputs: list[str]) -> Any:
        """``embed`` in a worker thread."""
        import asyncio

        return await asyncio.to_thread(self.embed, t, inputs)

    async def acomplete(self, t: Target, request: ChatRequest) -> ChatResponse:
        """``complete`` in a worker thread."""
        import asyncio  # imported by the async paths only: see executor._sleep

        return await asyncio.to_thread(self.complete, t, request)

    async def astream(self, t: Target, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """``stream`` driven from a worker thread, one chunk per hop."""
        import asyncio

        it = self.stream(t, request)
        done = object()
        try:
            while True:
                chunk = await asyncio.to_thread(next, it, done)
                if chunk is done:
                    return
                assert isinstance(chunk, ChatChunk)
                yield chunk
        finally:
            await asyncio.to_thread(it.close)
