"""Shared state (breakers, budgets, migration) behind one interface."""

from __future__ import annotations

from .base import StateStore
from .memory import MemoryStore

__all__ = ["MemoryStore", "StateStore", "open_store"]


def open_store(url: str) -> StateStore:
    """The store a config's ``state:`` names (``memory`` for now)."""
    if url == "memory":
        return MemoryStore()
    from ..errors import ConfigError

    raise ConfigError(f"unsupported state store {url!r}", key="state")
