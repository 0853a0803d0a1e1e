"""Sending embedding requests: batches over HTTP, or the in-process engine.

One try of a target (what the walker calls a ``Send``) embeds every input:
the inputs are cut into batches of the target's limit
(:func:`router.embeddings.adapters.batch_limit`), sent one after the other
through the executor's pooled transports, and the vectors put back in input
order. A batch that fails fails the try; the walker then retries or falls
back as for chat, and the next try sends every batch again. A try that fails
after some of its batches were answered has been billed for them: the
sender reports it (``billed``) so the budget gate charges it. The building
and checking is shared by the blocking and asyncio senders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..embeddings.adapters import (
    Batch,
    EmbeddingAdapter,
    batch_limit,
    embedding_adapter_for,
    vector_from_wire,
)
from ..errors import AuthenticationError, ProviderError, ProviderTimeout, ProviderUnavailable
from ..providers import Adapter, adapter_for
from ..targets import Target
from .embedded import EmbeddedSender
from .http import scrub

if TYPE_CHECKING:
    from ..embeddings.types import EmbeddingRequest
    from .http import AsyncHttpSender, HttpSender
    from .walker import Send

__all__ = ["AsyncEmbeddingSender", "Billed", "EmbeddingSender", "batches"]

Billed = Callable[[Target], None]
"""Told of a target that answered part of a try that then failed (it may bill it)."""


def _partly_answered(billed: Billed | None, t: Target, parts: list[Batch]) -> None:
    if billed is not None and parts:
        billed(t)


def batches(inputs: Sequence[str], limit: int | None) -> list[tuple[int, Sequence[str]]]:
    """``inputs`` cut into runs of at most ``limit`` (``None``: one run), each with
    the index of its first input."""
    if limit is None or len(inputs) <= limit:
        return [(0, inputs)]
    return [(i, inputs[i : i + limit]) for i in range(0, len(inputs), limit)]


class _Base:
    """Adapters, batch planning and answer checking, shared by both senders."""

    def __init__(self) -> None:
        self._wire: dict[str, EmbeddingAdapter] = {}
        self._errors: dict[str, Adapter] = {}

    def _adapters(self, t: Target) -> tuple[EmbeddingAdapter, Adapter]:
        wire = self._wire.get(t.provider)
        if wire is None:
            wire = self._wire[t.provider] = embedding_adapter_for(t.kind)
            self._errors[t.provider] = adapter_for(t.kind, t.provider_name)
        return wire, self._errors[t.provider]

    @staticmethod
    def _plan(t: Target, request: EmbeddingRequest) -> list[tuple[int, Sequence[str]]]:
        if t.endpoint.quirks.requires_key and not t.endpoint.api_key:
            raise scrub(
                AuthenticationError(
                    f"no API key for provider {t.provider!r}: set "
                    + (t.api_key_env or "api_key in the config"),
                    code="missing_api_key",
                ),
                t,
            )
        return batches(request.input, batch_limit(t))

    @staticmethod
    def _answer(
        t: Target,
        wire: EmbeddingAdapter,
        errors: Adapter,
        answer: tuple[int, Any, bytes],
        expected: int,
    ) -> Batch:
        status, headers, body = answer
        try:
            if status >= 300:
                raise errors.parse_error(status, headers, body)
            return wire.parse(body, expected)
        except ProviderError as e:
            raise scrub(e, t) from None

    @staticmethod
    def _engine(t: Target, out: Any, expected: int) -> Batch:
        try:
            return _engine_batch(out, expected)
        except ProviderError as e:
            raise scrub(e, t) from None

    @staticmethod
    def _merge(t: Target, request: EmbeddingRequest, parts: list[Batch]) -> Batch:
        vectors = parts[0].vectors if len(parts) == 1 else [v for p in parts for v in p.vectors]
        counts = [p.prompt_tokens for p in parts]
        tokens = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
        size = len(vectors[0])
        if any(len(v) != size for v in vectors):
            raise scrub(_malformed("holds vectors of different lengths"), t)
        if request.dimensions is not None and size != request.dimensions:
            # A server that ignores ``dimensions``: fall back rather than return
            # vectors of a length the caller did not ask for.
            raise scrub(
                ProviderError(
                    f"asked for {request.dimensions} dimensions, got {size}: "
                    "the model or server does not shorten vectors",
                    code="dimensions_unsupported",
                ),
                t,
            )
        return Batch(vectors, tokens, parts[0].model)


def _malformed(why: str) -> ProviderError:
    return ProviderUnavailable(f"embedding response {why}", code="malformed_response")


def _engine_batch(out: Any, expected: int) -> Batch:
    """llama-cpp-python's ``create_embedding`` dict as a batch."""
    data = out.get("data") if isinstance(out, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise _malformed("from the engine has the wrong number of vectors")
    vectors = []
    for item in data:
        vectors.append(vector_from_wire(item.get("embedding") if isinstance(item, dict) else None))
    usage = out.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return Batch(vectors, tokens if type(tokens) is int else None, None)


def _deadline(t: Target, deadline: float | None) -> float | None:
    """What is left of the try's time, or its timeout once none is."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise scrub(ProviderTimeout("no answer within the deadline", code="deadline"), t)
    return left


class EmbeddingSender(_Base):
    """Blocking: batches one after the other through the executor's pools."""

    def __init__(self, http: HttpSender, embedded: EmbeddedSender) -> None:
        super().__init__()
        self.http = http
        self.embedded = embedded

    def embed(self, step: Send, request: EmbeddingRequest, billed: Billed | None = None) -> Batch:
        """Every input of ``request`` on ``step.target``, in input order."""
        t = step.target
        runs = self._plan(t, request)
        deadline = None if step.timeout_s is None else time.monotonic() + step.timeout_s
        parts: list[Batch] = []
        try:
            if t.kind == "embedded":
                for _, inputs in runs:
                    out = self.embedded.embed(t, list(inputs))
                    parts.append(self._engine(t, out, len(inputs)))
                return self._merge(t, request, parts)
            wire, errors = self._adapters(t)
            for _, inputs in runs:
                left = _deadline(t, deadline)
                http = wire.build(t.endpoint, inputs, request)
                answer = self.http.exchange(t, http, timeout_s=left)
                parts.append(self._answer(t, wire, errors, answer, len(inputs)))
            return self._merge(t, request, parts)
        except ProviderError:
            _partly_answered(billed, t, parts)
            raise


class AsyncEmbeddingSender(_Base):
    """Non-blocking: the same batches, awaited; the try is bounded as a whole."""

    def __init__(self, http: AsyncHttpSender, embedded: EmbeddedSender) -> None:
        super().__init__()
        self.http = http
        self.embedded = embedded

    async def embed(
        self, step: Send, request: EmbeddingRequest, billed: Billed | None = None
    ) -> Batch:
        """Every input of ``request`` on ``step.target``, in input order."""
        import asyncio

        t = step.target
        parts: list[Batch] = []
        try:
            if step.timeout_s is None:
                return await self._embed(step, request, parts)
            try:
                async with asyncio.timeout(max(step.timeout_s, 0.0)):
                    return await self._embed(step, request, parts)
            except TimeoutError:
                raise scrub(
                    ProviderTimeout(f"no answer within {step.timeout_s:.3g}s", code="deadline"), t
                ) from None
        except ProviderError:
            _partly_answered(billed, t, parts)
            raise

    async def _embed(self, step: Send, request: EmbeddingRequest, parts: list[Batch]) -> Batch:
        t = step.target
        runs = self._plan(t, request)
        if t.kind == "embedded":
            for _, inputs in runs:
                out = await self.embedded.aembed(t, list(inputs))
                parts.append(self._engine(t, out, len(inputs)))
            return self._merge(t, request, parts)
        wire, errors = self._adapters(t)
        for _, inputs in runs:
            http = wire.build(t.endpoint, inputs, request)
            answer = await self.http.exchange(t, http, timeout_s=step.timeout_s)
            parts.append(self._answer(t, wire, errors, answer, len(inputs)))
        return self._merge(t, request, parts)
