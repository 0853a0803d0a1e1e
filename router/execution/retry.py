"""Retry strategies: a RetryConfig as tenacity's composable ``stop``, ``retry``
and ``wait`` objects, evaluated on a :class:`tenacity.RetryCallState` that the
walker fills in.

Imported by the walker on a call's first failure, not at ``import router``:
tenacity loads asyncio, which a router that never fails never needs.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import tenacity
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ..config.schema import RetryConfig
from ..errors import ProviderError, RateLimitError
from .walker import retry_kind

__all__ = ["SDK_DEFAULT", "Strategy", "sdk_default", "strategy_for"]

SDK_DEFAULT = RetryConfig(attempts=3)
"""What the official OpenAI and Anthropic SDKs do unasked (``max_retries=2``): two
more tries (see :func:`_sdk_retries`), waiting the server's delay up to 60 s, else
0.5 s doubling up to 8 s, with jitter. The walker uses it on a plan's last target
when no ``retry:`` is configured."""


def _sdk_retries(e: ProviderError) -> bool:
    """The SDKs' verdict when the server gave no ``x-should-retry``: 408, 409 (a lock
    timeout), 429 and 5xx; without a status, timeouts and connection errors (a stream
    cut before its first content is one). A spent quota is not retried (waiting does
    not fix it), nor is a malformed answer."""
    if e.status is None:
        return retry_kind(e) in ("timeout", "connection") or e.code == "stream_truncated"
    if isinstance(e, RateLimitError) and e.quota_exhausted:
        return False
    return e.status in (408, 409, 429) or e.status >= 500


class _wait_jitter(wait_base):
    """``base`` plus a random fraction of it (tenacity's ``wait_random`` is absolute)."""

    def __init__(self, base: wait_base, fraction: float, rng: random.Random) -> None:
        self.base, self.fraction, self.rng = base, fraction, rng

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = self.base(retry_state)
        return delay + self.rng.uniform(0, delay * self.fraction)


class _wait_server_hint(wait_base):
    """The server's ``Retry-After`` when it gave one, else ``fallback``."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        hint = _hint(retry_state)
        return hint if hint is not None else self.fallback(retry_state)


def _hint(retry_state: RetryCallState) -> float | None:
    outcome = retry_state.outcome
    err = outcome.exception() if outcome is not None else None
    return err.retry_after_s if isinstance(err, ProviderError) else None


@dataclass(frozen=True, slots=True)
class Strategy:
    """A RetryConfig as tenacity strategy objects."""

    stop: stop_base
    retry: retry_base
    wait: wait_base

    @classmethod
    def of(cls, cfg: RetryConfig, rng: random.Random, *, sdk: bool = False) -> Strategy:
        """``sdk``: retry what the official SDKs retry, not the kinds in ``cfg.on``."""
        b = cfg.backoff
        backoff = wait_exponential(multiplier=b.initial_s, max=b.max_s, exp_base=b.multiplier)

        def wanted(e: BaseException) -> bool:
            if not isinstance(e, ProviderError):
                return False
            if e.should_retry is not None:  # the server's x-should-retry wins
                return e.should_retry
            return _sdk_retries(e) if sdk else retry_kind(e) in cfg.on

        def hint_acceptable(e: BaseException) -> bool:
            # A server asking for a longer wait than the cap is fallen back from.
            hint = e.retry_after_s if isinstance(e, ProviderError) else None
            return hint is None or hint <= cfg.max_retry_after_s

        return cls(
            stop=stop_after_attempt(cfg.attempts),
            retry=retry_if_exception(wanted) & retry_if_exception(hint_acceptable),
            wait=_wait_server_hint(_wait_jitter(backoff, b.jitter, rng)),
        )

    def delay(self, err: ProviderError, try_no: int) -> float | None:
        """Seconds to wait before retrying after ``err`` on try ``try_no``; None: do not."""
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = try_no
        state.outcome = tenacity.Future.construct(try_no, err, True)
        if not self.retry(state) or self.stop(state):
            return None
        return float(self.wait(state))


@functools.lru_cache(maxsize=256)
def strategy_for(cfg: RetryConfig, rng: random.Random, *, sdk: bool = False) -> Strategy:
    """Strategies are immutable: build them once per config, not once per request."""
    return Strategy.of(cfg, rng, sdk=sdk)


def sdk_default(rng: random.Random) -> Strategy:
    """The official SDKs' default retries (:data:`SDK_DEFAULT`)."""
    return strategy_for(SDK_DEFAULT, rng, sdk=True)
