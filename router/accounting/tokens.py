"""A fast token estimate for pre-flight checks and for streams that report no usage.

About four characters per token for English prose with BPE tokenizers; code
and non-Latin scripts run denser, so the estimate is rounded up and padded
per message. It is an estimate and is always flagged as such.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["estimate_text_tokens", "estimate_tokens"]

_PER_MESSAGE = 4


def estimate_text_tokens(text: str) -> int:
    """Tokens in ``text``: ceil(chars / 4)."""
    return (len(text) + 3) // 4


def estimate_tokens(texts: Iterable[str], messages: int = 0) -> int:
    """Tokens for several texts plus a per-message overhead."""
    return sum(estimate_text_tokens(t) for t in texts) + _PER_MESSAGE * messages
