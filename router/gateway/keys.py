"""Gateway API keys: finding the presented key and telling which configured key it is.

Keys are held as SHA-256 digests only; a presented key is hashed and compared
with every configured digest through :func:`hmac.compare_digest`, all of them
every time, so neither the comparison nor the number of comparisons depends on
how much of a key was right. Nothing here logs, and no error names a key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from ..config.schema import GatewayKey

__all__ = ["KeyRing", "presented_key"]


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer`` (OpenAI) or ``x-api-key``
    (Anthropic); ``None`` when it presents none."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    value = headers.get("x-api-key", "").strip()
    return value or None


class KeyRing:
    """The configured keys, by digest."""

    def __init__(self, keys: Sequence[GatewayKey]) -> None:
        self._keys = tuple((k.digest(), k) for k in keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({[k.name for _, k in self._keys]})"

    @property
    def keys(self) -> tuple[GatewayKey, ...]:
        """The configured keys, in config order."""
        return tuple(k for _, k in self._keys)

    def match(self, presented: str | None) -> GatewayKey | None:
        """The configured key equal to ``presented``, or ``None``."""
        if presented is None:
            return None
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: GatewayKey | None = None
        for known, key in self._keys:
            # No early exit: every configured key is compared on every request.
            if hmac.compare_digest(known, digest):
                found = key
        return found
