"""What a provider's rate-limit headers say about its next request: pure parsing, no I/O.

Two header families, plus the standard retry hints:

- ``x-ratelimit-remaining-requests`` / ``-tokens`` and
  ``x-ratelimit-reset-requests`` / ``-tokens`` (OpenAI, and Groq, Together,
  Fireworks… that copy it): resets are durations such as ``1s``, ``6m0s``,
  ``20ms`` or ``1h2m3.5s``.
- ``anthropic-ratelimit-requests-remaining`` / ``-reset`` and
  ``anthropic-ratelimit-tokens-*`` (falling back to ``-input-tokens-*``):
  resets are RFC 3339 times.
- A 429's ``retry-after-ms`` / ``retry-after`` (see
  :func:`~router.providers.errors_map.retry_after_s`).

:func:`limited_for` turns them into "this target is limited for N seconds",
which the router records in its state store so every process steers away.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors_map import retry_after_s

__all__ = ["MAX_MARK_S", "RateHint", "limited_for", "parse_duration", "read_hint"]

MAX_MARK_S = 3600.0
"""No header marks a target limited for longer than this (a garbled reset is not a ban)."""

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Seconds in a duration like ``6m0s``, ``1.5s``, ``20ms`` or a bare number of
    seconds; ``None`` when it is not one."""
    text = text.strip()
    if not text:
        return None
    try:
        bare = float(text)
    except ValueError:
        pass
    else:
        return bare if math.isfinite(bare) and bare >= 0 else None
    total, pos = 0.0, 0
    for m in _PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and math.isfinite(total) else None


def _rfc3339_in(text: str, now: float) -> float | None:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None


@dataclass(frozen=True, slots=True)
class RateHint:
    """The rate-limit state a response reported (``None``: not reported)."""

    requests_remaining: float | None = None
    requests_reset_s: float | None = None
    tokens_remaining: float | None = None
    tokens_reset_s: float | None = None
    retry_after_s: float | None = None


def read_hint(headers: Mapping[str, str], now: float) -> RateHint | None:
    """The rate-limit headers of a response, or ``None`` when it has none.

    ``now`` (epoch seconds) turns Anthropic's reset times into durations.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    retry = retry_after_s(lower, now)
    if "x-ratelimit-remaining-requests" in lower or "x-ratelimit-remaining-tokens" in lower:

        def reset(name: str) -> float | None:
            v = lower.get(name)
            return None if v is None else parse_duration(v)

        return RateHint(
            _number(lower.get("x-ratelimit-remaining-requests")),
            reset("x-ratelimit-reset-requests"),
            _number(lower.get("x-ratelimit-remaining-tokens")),
            reset("x-ratelimit-reset-tokens"),
            retry,
        )
    a = "anthropic-ratelimit-"
    if any(k.startswith(a) for k in lower):
        tokens = "tokens" if f"{a}tokens-remaining" in lower else "input-tokens"

        def at(name: str) -> float | None:
            v = lower.get(a + name)
            return None if v is None else _rfc3339_in(v, now)

        return RateHint(
            _number(lower.get(f"{a}requests-remaining")),
            at("requests-reset"),
            _number(lower.get(f"{a}{tokens}-remaining")),
            at(f"{tokens}-reset"),
            retry,
        )
    return None if retry is None else RateHint(retry_after_s=retry)


def limited_for(
    hint: RateHint, *, status: int, tokens_needed: int
) -> tuple[float, float, str] | None:
    """How long the target should be steered around, the tokens it still has room for
    meanwhile (0: none, not even a request), and why.

    A 429 marks it for its ``retry-after``; no request remaining marks it until
    the requests' reset; fewer tokens remaining than ``tokens_needed`` (the
    size of the request just answered) until the tokens' reset, with that
    room: a smaller request may still go. ``None``: nothing to steer around.
    """
    found: list[tuple[float, float, str]] = []
    if status == 429 and hint.retry_after_s is not None and hint.retry_after_s > 0:
        found.append((hint.retry_after_s, 0.0, "429 retry-after"))
    req, tok = hint.requests_remaining, hint.tokens_remaining
    if req is not None and req < 1 and hint.requests_reset_s:
        found.append((hint.requests_reset_s, 0.0, "no requests remaining (provider headers)"))
    if tok is not None and tok < max(1, tokens_needed) and hint.tokens_reset_s:
        found.append((hint.tokens_reset_s, tok, f"{tok:.0f} tokens remaining (provider headers)"))
    if not found:
        return None
    seconds, room, why = min(found, key=lambda f: (f[1], -f[0]))  # the tightest room, longest
    return min(seconds, MAX_MARK_S), room, why
