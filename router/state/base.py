"""The state store interface: small atomic primitives that every backend provides.

Breakers, budgets and migration guards are built on these, so the same code
runs on one process (``memory``), several processes on a host (``sqlite``)
and many hosts (``redis``). Every operation is atomic on its own key; values
are strings or floats; ``ttl_s`` makes a key expire (a crashed process never
holds state forever).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["StateStore"]


class StateStore(ABC):
    """Atomic key/value primitives with expiry. Implementations are thread-safe."""

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value at ``key``, or ``None`` when absent or expired."""

    @abstractmethod
    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        """Store ``value`` at ``key`` (replacing it), expiring after ``ttl_s``."""

    @abstractmethod
    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; True when this call stored it."""

    @abstractmethod
    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        """Add ``amount`` to the number at ``key`` (0 when absent) and return the sum.

        ``ttl_s`` is applied when the key is created, not on later increments,
        so a window counter expires with its window.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files."""
