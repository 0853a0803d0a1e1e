"""Mapping of HTTP statuses and provider error codes to the exception tree.

Shared by every adapter: each extracts ``(message, code)`` from its own
error body and calls :func:`error_for_status`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from ..credentials import CUT
from ..errors import (
    AuthenticationError,
    ContextLengthExceeded,
    InvalidRequestError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
)

__all__ = ["error_for_status", "retry_after_s", "should_retry"]

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "exceeds the context",
)
_QUOTA_MARKERS = ("insufficient_quota", "quota exceeded", "exceeded your current quota")
_MAX_MESSAGE = 500


def _usable(delay: float) -> bool:
    # ``nan`` (which ``max(0.0, nan)`` turns into 0), ``inf`` and negative delays are
    # no hint at all: never "retry at once".
    return math.isfinite(delay) and delay >= 0


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The delay a server asked for: ``retry-after-ms``, then ``Retry-After``
    (seconds or an HTTP date). ``None`` when absent, unreadable or not a finite,
    non-negative number."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            delay = float(ms) / 1000.0
        except ValueError:
            pass
        else:
            if _usable(delay):
                return delay
    ra = lower.get("retry-after")
    if ra is None:
        return None
    try:
        delay = float(ra)
    except ValueError:
        pass
    else:
        return delay if _usable(delay) else None
    try:
        when = parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def should_retry(headers: Mapping[str, str]) -> bool | None:
    """The server's ``x-should-retry`` verdict: ``True``/``False``, ``None`` when absent
    or neither ``true`` nor ``false``."""
    for k, v in headers.items():
        if k.lower() == "x-should-retry":
            return {"true": True, "false": False}.get(v.strip().lower())
    return None


def error_for_status(
    status: int,
    message: str,
    code: str | None,
    headers: Mapping[str, str],
    *,
    provider: str | None = None,
) -> ProviderError:
    """The exception for an HTTP error ``status`` with the provider's message and code.

    Every status carries the server's retry hints (``retry_after_s``,
    ``should_retry``): a 503 or a 529 may ask for a delay just as a 429 does.
    """
    message = message or f"HTTP {status}"
    if len(message) > _MAX_MESSAGE:  # marked, so a secret cut in two is still found
        message = message[:_MAX_MESSAGE] + CUT
    text = f"{code or ''} {message}".lower()
    kw: dict[str, Any] = {
        "status": status,
        "code": code,
        "provider": provider,
        "retry_after_s": retry_after_s(headers),
        "should_retry": should_retry(headers),
    }
    if status == 429:
        quota = any(m in text for m in _QUOTA_MARKERS)
        return RateLimitError(message, quota_exhausted=quota, **kw)
    if status in (401, 403):
        return AuthenticationError(message, **kw)
    if status == 408:
        return ProviderTimeout(message, **kw)
    if status in (400, 404, 409, 413, 422):
        if any(m in text for m in _CONTEXT_MARKERS):
            return ContextLengthExceeded(message, **kw)
        return InvalidRequestError(message, **kw)
    if status >= 500:
        return ProviderUnavailable(message, **kw)
    if 400 <= status < 500:
        return InvalidRequestError(message, **kw)
    return ProviderUnavailable(message, **kw)
