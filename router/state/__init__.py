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


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(url: str, *, resilient: bool = True) -> StateStore:
    """The store a config's ``state:`` names: ``memory``, ``sqlite://…`` or ``redis://…``.

    A Redis store comes wrapped in a :class:`~router.state.resilient.ResilientStore`
    (``resilient=False``: bare), so that its server going away degrades
    breakers and health to process memory and refuses budgets, rather than
    failing every call (docs/state.md, "When the store fails").
    """
    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(REDIS_SCHEMES):
        from .redis import RedisStore

        store = RedisStore(url)
        if not resilient:
            return store
        from ..credentials import mask_url
        from .resilient import ResilientStore

        return ResilientStore(store, name=mask_url(url))
    raise ConfigError(
        f"unsupported state store {url!r}; use memory, sqlite:///path or redis://host:port/db",
        key="state",
    )
