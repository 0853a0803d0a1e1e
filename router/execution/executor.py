"""Drivers: perform the walker's steps with blocking or non-blocking I/O.

The decisions (retry, fall back, give up) live in :class:`Walker`; these
drivers only send, sleep and time. A stream may fall back until its first
content chunk has been produced; after that a failure is
:class:`~router.errors.StreamInterrupted`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ProviderError
from ..targets import Target
from ..telemetry.observer import Observer
from ..types import ChatChunk, ChatRequest, ChatResponse
from .call import Call
from .embedded import EmbeddedSender
from .http import AsyncHttpSender, HttpSender
from .walker import Sleep

__all__ = ["AsyncExecutor", "Executor", "Opened", "has_content"]

_now = time.perf_counter


async def _sleep(seconds: float) -> None:
    import asyncio  # here, not at the top: a blocking Router never needs to load asyncio

    await asyncio.sleep(seconds)


def has_content(chunk: ChatChunk) -> bool:
    """Whether a chunk carries something the caller would see (text, tool call, finish)."""
    return any(
        c.delta.content or c.delta.tool_calls or c.delta.refusal or c.finish_reason
        for c in chunk.choices
    )


@dataclass
class Opened:
    """A stream that has produced its first content: the buffered head and the rest."""

    target: Target
    head: list[ChatChunk]
    rest: Any  # Iterator[ChatChunk] or AsyncIterator[ChatChunk]


class Executor:
    """Blocking execution of a plan."""

    def __init__(self, observer: Observer | None = None) -> None:
        self.http = HttpSender()
        self.embedded = EmbeddedSender()
        self.observer = observer or Observer()

    def _send(self, t: Target, request: ChatRequest) -> ChatResponse:
        if t.kind == "embedded":
            return self.embedded.complete(t, request)
        return self.http.complete(t, request)

    def _open(self, t: Target, request: ChatRequest) -> Iterator[ChatChunk]:
        if t.kind == "embedded":
            return self.embedded.stream(t, request)
        return self.http.stream(t, request)

    def complete(self, call: Call) -> tuple[ChatResponse, Target]:
        """Walk the plan until a target answers; raise the walker's error otherwise."""
        walker, obs = call.walker, self.observer
        while (step := walker.next()) is not None:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            token = obs.attempt_started(call, step)
            t0 = _now()
            try:
                resp = self._send(step.target, call.request)
            except ProviderError as e:
                walker.failed(step, e, _now() - t0)
                obs.attempt_ended(call, step, token, error=e)
                continue
            walker.succeeded(step, _now() - t0)
            obs.attempt_ended(call, step, token, response=resp)
            return resp, step.target
        raise walker.error()

    def open_stream(self, call: Call) -> Opened:
        """Walk the plan until a target's stream yields content."""
        walker, obs = call.walker, self.observer
        while (step := walker.next()) is not None:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            token = obs.attempt_started(call, step)
            t0 = _now()
            it = self._open(step.target, call.request)
            head: list[ChatChunk] = []
            try:
                for chunk in it:
                    head.append(chunk)
                    if has_content(chunk):
                        break
            except ProviderError as e:
                _close(it)
                walker.failed(step, e, _now() - t0)
                obs.attempt_ended(call, step, token, error=e)
                continue
            walker.succeeded(step, _now() - t0)
            obs.attempt_ended(call, step, token)
            return Opened(step.target, head, it)
        raise walker.error()

    def close(self) -> None:
        """Release pooled connections."""
        self.http.close()


class AsyncExecutor:
    """Non-blocking execution of a plan (same walker, awaited I/O)."""

    def __init__(self, observer: Observer | None = None, transport_factory: Any = None) -> None:
        self.http = AsyncHttpSender(transport_factory)
        self.embedded = EmbeddedSender()
        self.observer = observer or Observer()

    async def _send(self, t: Target, request: ChatRequest) -> ChatResponse:
        if t.kind == "embedded":
            return await self.embedded.acomplete(t, request)
        return await self.http.complete(t, request)

    def _open(self, t: Target, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if t.kind == "embedded":
            return self.embedded.astream(t, request)
        return self.http.stream(t, request)

    async def complete(self, call: Call) -> tuple[ChatResponse, Target]:
        """Walk the plan until a target answers; raise the walker's error otherwise."""
        walker, obs = call.walker, self.observer
        while (step := walker.next()) is not None:
            if isinstance(step, Sleep):
                await _sleep(step.seconds)
                continue
            token = obs.attempt_started(call, step)
            t0 = _now()
            try:
                resp = await self._send(step.target, call.request)
            except ProviderError as e:
                walker.failed(step, e, _now() - t0)
                obs.attempt_ended(call, step, token, error=e)
                continue
            walker.succeeded(step, _now() - t0)
            obs.attempt_ended(call, step, token, response=resp)
            return resp, step.target
        raise walker.error()

    async def open_stream(self, call: Call) -> Opened:
        """Walk the plan until a target's stream yields content."""
        walker, obs = call.walker, self.observer
        while (step := walker.next()) is not None:
            if isinstance(step, Sleep):
                await _sleep(step.seconds)
                continue
            token = obs.attempt_started(call, step)
            t0 = _now()
            it = self._open(step.target, call.request)
            head: list[ChatChunk] = []
            try:
                async for chunk in it:
                    head.append(chunk)
                    if has_content(chunk):
                        break
            except ProviderError as e:
                await _aclose(it)
                walker.failed(step, e, _now() - t0)
                obs.attempt_ended(call, step, token, error=e)
                continue
            walker.succeeded(step, _now() - t0)
            obs.attempt_ended(call, step, token)
            return Opened(step.target, head, it)
        raise walker.error()

    async def aclose(self) -> None:
        """Release pooled connections."""
        await self.http.aclose()


def _close(it: Iterator[ChatChunk]) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


async def _aclose(it: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()
