"""Drivers: perform the walker's steps with blocking or non-blocking I/O.

The decisions (retry, fall back, skip an open breaker, hedge, give up) live
in :class:`Walker`; these drivers only send, sleep, run the walker's store
programs (on a sync store, or awaited on an async one), time and — when a route
hedges — race two tries (threads for the blocking driver, tasks for the
asyncio one). A stream may fall back until its first content chunk has been
produced; after that a failure is :class:`~router.errors.StreamInterrupted`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..accounting.budget import UNANSWERED_KEY
from ..errors import ProviderError, ProviderTimeout
from ..state.program import Program, arun, run
from ..targets import Target
from ..telemetry.observer import Observer
from ..types import ChatChunk, ChatRequest, ChatResponse
from .call import Call
from .embedded import EmbeddedSender
from .http import AsyncHttpSender, HttpSender, scrub
from .limits import NOT_SENT_TIMEOUTS
from .restore import restore_opened, restore_opened_async, restore_response
from .walker import Send, Sleep

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future, ThreadPoolExecutor

    from ..state.aio.base import AsyncStateStore
    from ..state.base import StateStore

__all__ = ["AsyncExecutor", "Executor", "Opened", "has_content", "reached_provider"]

_now = time.perf_counter
R = TypeVar("R")

_HEDGE_WORKERS = 8


def has_content(chunk: ChatChunk) -> bool:
    """Whether a chunk carries something the caller would see (text, tool call, finish)."""
    return any(
        c.delta.content or c.delta.tool_calls or c.delta.refusal or c.finish_reason
        for c in chunk.choices
    )


@dataclass(slots=True, eq=False)
class Opened:
    """A stream that has produced its first content: the buffered head and the rest."""

    target: Target
    head: list[ChatChunk]
    rest: Any  # Iterator[ChatChunk] or AsyncIterator[ChatChunk]


def _first_token_limit(step: Send) -> tuple[float | None, str]:
    """How long a stream may take to its first content, and the code of that timeout."""
    ftt, left = step.first_token_s, step.timeout_s
    if ftt is not None and (left is None or ftt <= left):
        return ftt, "first_token_timeout"
    return left, "deadline"


def reached_provider(err: ProviderTimeout) -> bool:
    """Whether a timed-out try may have reached its provider (and so may be billed).

    A connect, pool or write timeout (a transport timeout names its httpx
    class) ends before the request is whole at the server. A read, first-token
    or deadline timeout comes after it was sent — or, when the asyncio
    driver's deadline cuts a connect short, perhaps before: counted all the same.
    """
    return not (err.code == "timeout" and err.message in NOT_SENT_TIMEOUTS)


def _timed_out(step: Send, code: str, limit: float) -> ProviderError:
    what = "first content" if code == "first_token_timeout" else "answer"
    return scrub(ProviderTimeout(f"no {what} within {limit:.3g}s", code=code), step.target)


# -- bookkeeping shared by both drivers: the walker and the observer -----------


def _failed(
    obs: Observer, call: Call, step: Send, token: Any, t0: float, e: ProviderError
) -> Program[None]:
    yield from call.walker.failed_steps(step, e, _now() - t0)
    if isinstance(e, ProviderTimeout) and reached_provider(e):
        # Sent but unanswered: the budget gate charges it (if the target is paid).
        call.extra.setdefault(UNANSWERED_KEY, []).append(step.target.name)
    obs.attempt_ended(call, step, token, error=e)


def _succeeded(
    obs: Observer, call: Call, step: Send, token: Any, t0: float, result: Any
) -> Program[None]:
    yield from call.walker.succeeded_steps(step, _now() - t0, final=not isinstance(result, Opened))
    if isinstance(result, ChatResponse):
        obs.attempt_ended(call, step, token, response=result)
    else:
        obs.attempt_ended(call, step, token)


def _cancelled(obs: Observer, call: Call, step: Send, token: Any, t0: float) -> Program[None]:
    yield from call.walker.cancelled_steps(step, _now() - t0)
    obs.attempt_ended(call, step, token)


class Executor:
    """Blocking execution of a plan; the walk's store steps run on ``store``."""

    def __init__(self, observer: Observer | None = None, store: StateStore | None = None) -> None:
        self.store = store
        self.http = HttpSender()
        self.embedded = EmbeddedSender()
        self.observer = observer or Observer()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- one try ------------------------------------------------------------

    def _complete_once(self, step: Send, request: ChatRequest) -> ChatResponse:
        t = step.target
        if t.kind == "embedded":
            return self.embedded.complete(t, request)
        return self.http.complete(t, request, timeout_s=step.timeout_s)

    def _open_once(self, step: Send, request: ChatRequest) -> Opened:
        t = step.target
        it: Iterator[ChatChunk]
        if t.kind == "embedded":
            it = self.embedded.stream(t, request)
        else:
            it = self.http.stream(
                t, request, timeout_s=step.timeout_s, first_token_s=step.first_token_s
            )
        limit, code = _first_token_limit(step)
        t0 = _now()
        head: list[ChatChunk] = []
        try:
            for chunk in it:
                head.append(chunk)
                if has_content(chunk):
                    break
                if limit is not None and _now() - t0 > limit:
                    raise _timed_out(step, code, limit)
        except BaseException:
            _close(it)
            raise
        return Opened(t, head, it)

    # -- the walk -----------------------------------------------------------

    def complete(self, call: Call) -> tuple[ChatResponse, Target]:
        """Walk the plan until a target answers; raise the walker's error otherwise."""
        resp, step = self._walk(
            call, lambda s: self._complete_once(s, call.request_for(s.target)), None
        )
        return restore_response(call, resp, step.target), step.target

    def open_stream(self, call: Call) -> Opened:
        """Walk the plan until a target's stream yields content."""
        opened, _ = self._walk(
            call, lambda s: self._open_once(s, call.request_for(s.target)), lambda o: _close(o.rest)
        )
        return restore_opened(call, opened)

    def _walk(
        self,
        call: Call,
        attempt: Callable[[Send], R],
        discard: Callable[[R], None] | None,
    ) -> tuple[R, Send]:
        walker, store = call.walker, self.store
        while (step := run(walker.next_steps(), store)) is not None:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            hedge_s = walker.hedge_delay()
            if hedge_s is None:
                won = self._one(call, step, attempt)
            else:
                won = self._race(call, step, attempt, hedge_s, discard)
            if won is not None:
                return won
        raise walker.error()

    def _one(self, call: Call, step: Send, attempt: Callable[[Send], R]) -> tuple[R, Send] | None:
        obs = self.observer
        token = obs.attempt_started(call, step)
        t0 = _now()
        try:
            result = attempt(step)
        except ProviderError as e:
            run(_failed(obs, call, step, token, t0, e), self.store)
            return None
        run(_succeeded(obs, call, step, token, t0, result), self.store)
        return result, step

    def _race(
        self,
        call: Call,
        first: Send,
        attempt: Callable[[Send], R],
        hedge_s: float,
        discard: Callable[[R], None] | None,
    ) -> tuple[R, Send] | None:
        """Run ``first``; after ``hedge_s`` without an answer, also the walker's hedge.

        A blocking call cannot be interrupted: a losing try runs on in its
        worker thread until its own timeout, and a stream it opened is closed.
        """
        # Hedging is opt-in: its thread machinery loads only when a route uses it.
        from concurrent.futures import FIRST_COMPLETED, wait

        obs, walker, store = self.observer, call.walker, self.store
        pool = self._hedge_pool()
        running: dict[Future[R], tuple[Send, Any, float]] = {}

        def launch(step: Send) -> None:
            token = obs.attempt_started(call, step)
            running[pool.submit(attempt, step)] = (step, token, _now())

        def drop(fut: Future[R]) -> None:
            if discard is not None and not fut.cancelled() and fut.exception() is None:
                discard(fut.result())

        launch(first)
        wait_s: float | None = hedge_s
        winner: tuple[R, Send] | None = None
        try:
            while running and winner is None:
                done, _ = wait(running, timeout=wait_s, return_when=FIRST_COMPLETED)
                if not done:
                    wait_s = None
                    second = run(walker.hedge_steps(), store)
                    if second is not None:
                        launch(second)
                    continue
                for fut in done:
                    step, token, t0 = running.pop(fut)
                    exc = fut.exception()
                    if exc is None and winner is None:
                        result = fut.result()
                        run(_succeeded(obs, call, step, token, t0, result), store)
                        winner = (result, step)
                    elif exc is None:
                        run(_cancelled(obs, call, step, token, t0), store)
                        drop(fut)
                    elif isinstance(exc, ProviderError):
                        run(_failed(obs, call, step, token, t0, exc), store)
                    else:
                        raise exc
        finally:
            for fut, (step, token, t0) in running.items():
                run(_cancelled(obs, call, step, token, t0), store)
                fut.add_done_callback(drop)
                fut.cancel()
        return winner

    def _hedge_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:  # shadow traffic may share this executor from another thread
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(_HEDGE_WORKERS, thread_name_prefix="router-hedge")
            return self._pool

    def close(self) -> None:
        """Release pooled connections and hedging threads."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()


class AsyncExecutor:
    """Non-blocking execution of a plan (same walker, awaited I/O and store steps)."""

    def __init__(
        self,
        observer: Observer | None = None,
        transport_factory: Any = None,
        store: AsyncStateStore | None = None,
    ) -> None:
        self.store = store
        self.http = AsyncHttpSender(transport_factory)
        self.embedded = EmbeddedSender()
        self.observer = observer or Observer()

    # -- one try ------------------------------------------------------------

    async def _complete_once(self, step: Send, request: ChatRequest) -> ChatResponse:
        t = step.target
        async with _Bounded(step, step.timeout_s, "deadline"):
            if t.kind == "embedded":
                return await self.embedded.acomplete(t, request)
            return await self.http.complete(t, request, timeout_s=step.timeout_s)

    async def _open_once(self, step: Send, request: ChatRequest) -> Opened:
        t = step.target
        it: AsyncIterator[ChatChunk]
        if t.kind == "embedded":
            it = self.embedded.astream(t, request)
        else:
            it = self.http.stream(
                t, request, timeout_s=step.timeout_s, first_token_s=step.first_token_s
            )
        limit, code = _first_token_limit(step)
        head: list[ChatChunk] = []
        try:
            async with _Bounded(step, limit, code):
                async for chunk in it:
                    head.append(chunk)
                    if has_content(chunk):
                        break
        except BaseException:
            await _aclose(it)
            raise
        return Opened(t, head, it)

    # -- the walk -----------------------------------------------------------

    async def complete(self, call: Call) -> tuple[ChatResponse, Target]:
        """Walk the plan until a target answers; raise the walker's error otherwise."""
        resp, step = await self._walk(
            call, lambda s: self._complete_once(s, call.request_for(s.target)), None
        )
        return restore_response(call, resp, step.target), step.target

    async def open_stream(self, call: Call) -> Opened:
        """Walk the plan until a target's stream yields content."""
        opened, _ = await self._walk(
            call, lambda s: self._open_once(s, call.request_for(s.target)), _discard_stream
        )
        return restore_opened_async(call, opened)

    async def _walk(
        self,
        call: Call,
        attempt: Callable[[Send], Awaitable[R]],
        discard: Callable[[R], Awaitable[None]] | None,
    ) -> tuple[R, Send]:
        walker, store = call.walker, self.store
        while (step := await arun(walker.next_steps(), store)) is not None:
            if isinstance(step, Sleep):
                await _sleep(step.seconds)
                continue
            hedge_s = walker.hedge_delay()
            if hedge_s is None:
                won = await self._one(call, step, attempt)
            else:
                won = await self._race(call, step, attempt, hedge_s, discard)
            if won is not None:
                return won
        raise walker.error()

    async def _one(
        self, call: Call, step: Send, attempt: Callable[[Send], Awaitable[R]]
    ) -> tuple[R, Send] | None:
        obs = self.observer
        token = obs.attempt_started(call, step)
        t0 = _now()
        try:
            result = await attempt(step)
        except ProviderError as e:
            await arun(_failed(obs, call, step, token, t0, e), self.store)
            return None
        await arun(_succeeded(obs, call, step, token, t0, result), self.store)
        return result, step

    async def _race(
        self,
        call: Call,
        first: Send,
        attempt: Callable[[Send], Awaitable[R]],
        hedge_s: float,
        discard: Callable[[R], Awaitable[None]] | None,
    ) -> tuple[R, Send] | None:
        """Run ``first``; after ``hedge_s`` without an answer, also the walker's hedge.

        The loser is cancelled (its connection closed) as soon as one wins.
        """
        import asyncio

        obs, walker, store = self.observer, call.walker, self.store
        running: dict[asyncio.Task[R], tuple[Send, Any, float]] = {}

        def launch(step: Send) -> None:
            token = obs.attempt_started(call, step)
            running[asyncio.ensure_future(attempt(step))] = (step, token, _now())

        async def drop(task: asyncio.Future[R]) -> None:
            if discard is not None and not task.cancelled() and task.exception() is None:
                await discard(task.result())

        launch(first)
        wait_s: float | None = hedge_s
        winner: tuple[R, Send] | None = None
        try:
            while running and winner is None:
                done, _ = await asyncio.wait(
                    running, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    wait_s = None
                    second = await arun(walker.hedge_steps(), store)
                    if second is not None:
                        launch(second)
                    continue
                for task in done:
                    step, token, t0 = running.pop(task)
                    exc = task.exception()
                    if exc is None and winner is None:
                        result = task.result()
                        await arun(_succeeded(obs, call, step, token, t0, result), store)
                        winner = (result, step)
                    elif exc is None:
                        await arun(_cancelled(obs, call, step, token, t0), store)
                        await drop(task)
                    elif isinstance(exc, ProviderError):
                        await arun(_failed(obs, call, step, token, t0, exc), store)
                    else:
                        raise exc
        finally:
            for task, (step, token, t0) in running.items():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await arun(_cancelled(obs, call, step, token, t0), store)
                await drop(task)
        return winner

    async def aclose(self) -> None:
        """Release pooled connections."""
        await self.http.aclose()


class _Bounded:
    """Bound a block's total time; its expiry is the step's ProviderTimeout.

    A class rather than an ``asynccontextmanager``: it wraps every try, and a
    generator-based manager costs several times as much to enter and leave.
    """

    __slots__ = ("_cm", "code", "seconds", "step")

    def __init__(self, step: Send, seconds: float | None, code: str) -> None:
        self.step, self.seconds, self.code = step, seconds, code
        self._cm: Any = None

    async def __aenter__(self) -> None:
        if self.seconds is not None:
            import asyncio

            self._cm = asyncio.timeout(max(self.seconds, 0.0))
            await self._cm.__aenter__()

    async def __aexit__(self, et: type[BaseException] | None, e: Any, tb: Any) -> None:
        cm = self._cm
        if cm is None:
            return
        try:
            await cm.__aexit__(et, e, tb)
        except TimeoutError:
            raise _timed_out(self.step, self.code, self.seconds or 0.0) from None
        if et is not None and issubclass(et, TimeoutError):
            raise _timed_out(self.step, self.code, self.seconds or 0.0) from None


async def _sleep(seconds: float) -> None:
    import asyncio  # here, not at the top: a blocking Router never needs asyncio

    await asyncio.sleep(seconds)


async def _discard_stream(opened: Opened) -> None:
    await _aclose(opened.rest)


def _close(it: Iterator[ChatChunk]) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


async def _aclose(it: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()
