"""The plan walker: which target to try next, when to wait, when to give up.

This is the one implementation of retry and fallback logic. It does no I/O:
the sync and async drivers ask it for the next step (send to a target, or
sleep), perform that step their own way, and report the outcome back.

The walker is built from a :class:`~router.policy.Decision` and can only ever
name targets from ``decision.plan`` — policy closure by construction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.schema import RetryConfig, RouteConfig
from ..errors import (
    AuthenticationError,
    InvalidRequestError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
    RouterError,
)
from ..policy.decision import Decision
from ..targets import Target
from ..types import Attempt

__all__ = ["Send", "Sleep", "Walker"]


@dataclass(frozen=True, slots=True)
class Send:
    """Try ``target`` (its ``try_no``-th try); ``timeout_s`` is what the deadline leaves."""

    target: Target
    try_no: int
    timeout_s: float | None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait before the next try."""

    seconds: float


Step = Send | Sleep

_NO_RETRY = RetryConfig(attempts=1)


def _kind(err: ProviderError) -> str:
    if isinstance(err, RateLimitError):
        return "rate_limit"
    if isinstance(err, ProviderTimeout):
        return "timeout"
    if isinstance(err, ProviderUnavailable):
        return "connection" if err.code == "connection" else "server_error"
    return "other"


class Walker:
    """Walks a Decision's plan for one request.

    ``clock`` is a monotonic clock; tests inject one to control deadlines.
    """

    def __init__(
        self,
        decision: Decision,
        route: RouteConfig,
        *,
        deadline_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._plan = decision.plan if decision.fallback else decision.plan[:1]
        self._route = route
        self._clock = clock
        self._rng = rng or random.Random()
        self._start = clock()
        limits = [d for d in (deadline_s, route.deadline_s) if d is not None]
        self._deadline = self._start + min(limits) if limits else None
        self._index = 0
        self._tries = 0
        self._pending_sleep: float | None = None
        self._last_error: ProviderError | None = None
        self._stop = False
        self.attempts: list[Attempt] = []

    # -- policy of the walk -------------------------------------------------

    def _retry(self, t: Target) -> RetryConfig:
        return self._route.retry or t.provider_config.retry or _NO_RETRY

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._clock()

    def next(self) -> Step | None:
        """The next step, or ``None`` when the plan is exhausted (see :meth:`error`)."""
        if self._stop:
            return None
        if self._pending_sleep is not None:
            delay, self._pending_sleep = self._pending_sleep, None
            return Sleep(delay)
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            self._last_error = self._last_error or ProviderTimeout(
                "deadline exceeded before any target answered", code="deadline"
            )
            return None
        if self._index >= len(self._plan):
            return None
        self._tries += 1
        return Send(self._plan[self._index], self._tries, remaining)

    def succeeded(self, step: Send, latency_s: float, status: int | None = 200) -> None:
        """Record a successful try."""
        self.attempts.append(
            Attempt(
                target=step.target.name,
                outcome="ok",
                status=status,
                latency_s=latency_s,
                zone=step.target.zone,
                provider=step.target.provider,
            )
        )
        self._stop = True

    def failed(self, step: Send, err: ProviderError, latency_s: float) -> None:
        """Record a failed try and decide between retry, fallback and giving up."""
        self.attempts.append(
            Attempt(
                target=step.target.name,
                outcome="timeout" if isinstance(err, ProviderTimeout) else "error",
                status=err.status,
                latency_s=latency_s,
                error=type(err).__name__,
                zone=step.target.zone,
                provider=step.target.provider,
            )
        )
        self._last_error = err
        if isinstance(err, AuthenticationError | InvalidRequestError) or not err.retryable:
            # The caller's request or credentials are wrong: another target
            # would not fix an invalid request; an auth failure is per provider.
            if isinstance(err, AuthenticationError):
                self._advance()
            else:
                self._stop = True
            return
        retry = self._retry(step.target)
        kind = _kind(err)
        if self._tries < retry.attempts and kind in retry.on:
            delay = self._backoff(retry, err)
            remaining = self._remaining()
            if delay is not None and (remaining is None or delay < remaining):
                self._pending_sleep = delay
                return
        self._advance()

    def _advance(self) -> None:
        self._index += 1
        self._tries = 0

    def _backoff(self, retry: RetryConfig, err: ProviderError) -> float | None:
        if isinstance(err, RateLimitError) and err.retry_after_s is not None:
            if err.retry_after_s > retry.max_retry_after_s:
                return None  # the server wants longer than we wait: fall back instead
            return err.retry_after_s
        b = retry.backoff
        base = min(b.max_s, b.initial_s * (b.multiplier ** (self._tries - 1)))
        return base + self._rng.uniform(0, base * b.jitter)

    def error(self) -> RouterError:
        """The error to raise once the walk has ended without success."""
        err = self._last_error or ProviderUnavailable("no target was tried", code="empty_plan")
        err.attempts = list(self.attempts)
        return err
