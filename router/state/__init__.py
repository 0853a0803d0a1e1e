"""Shared state (breakers, budgets, migration) behind one interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import BudgetCharge, BudgetUsage, Reserved, StateStore
from .memory import MemoryStore

if TYPE_CHECKING:
    from .aio import AsyncMemoryStore, AsyncStateStore, open_async_store

__all__ = [
    "AsyncMemoryStore",
    "AsyncStateStore",
    "BudgetCharge",
    "BudgetUsage",
    "MemoryStore",
    "Reserved",
    "StateStore",
    "open_async_store",
    "open_store",
    "sqlite_path",
]


def __getattr__(name: str) -> object:
    # The async stores load asyncio and a thread pool: only for code that asks.
    if name in ("AsyncMemoryStore", "AsyncStateStore", "open_async_store"):
        from . import aio

        return getattr(aio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite://`` URL names.

    ``sqlite:///var/lib/router/state.db`` is the absolute path
    ``/var/lib/router/state.db``; ``sqlite://state.db`` (two slashes) is
    relative to the working directory.
    """
    rest = url[len("sqlite://") :]
    if not rest or rest == "/":
        raise ConfigError(f"{url!r} names no file; use sqlite:///path/to/state.db", key="state")
    if rest.startswith("//"):
        rest = rest[1:]
    return Path(rest)


def open_store(url: str) -> StateStore:
    """The store a config's ``state:`` names: ``memory``, ``sqlite://…`` or ``redis://…``."""
    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url)
    raise ConfigError(
        f"unsupported state store {url!r}; use memory, sqlite:///path or redis://host:port/db",
        key="state",
    )
