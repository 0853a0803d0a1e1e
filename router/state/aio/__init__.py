"""Async state stores: :class:`~router.state.StateStore`'s operations as coroutines.

For ``AsyncRouter``: the same shared state (breakers, budgets, migration
guards, ledger) and the same data layout as the sync stores, without I/O on
the event loop. ``open_async_store(url)`` takes the URLs ``open_store``
takes; see docs/state.md for each backend's threading or pool model.
"""

from __future__ import annotations

from ...errors import ConfigError
from .base import AsyncStateStore
from .memory import AsyncMemoryStore

__all__ = ["AsyncMemoryStore", "AsyncStateStore", "open_async_store"]


def open_async_store(
    url: str, *, max_connections: int | None = None, resilient: bool = True
) -> AsyncStateStore:
    """The async store a config's ``state:`` names: ``memory``, ``sqlite://…`` or ``redis://…``.

    A Redis store comes wrapped in an
    :class:`~router.state.aio.resilient.AsyncResilientStore`, as
    :func:`router.state.open_store` wraps the sync one (``resilient=False``: bare).
    ``max_connections`` is accepted for compatibility and ignored: the async
    Redis store multiplexes every command over one connection (it sized a
    connection pool before 2026-12-05).
    """
    from .. import REDIS_SCHEMES, sqlite_path

    if url == "memory":
        return AsyncMemoryStore()
    if url.startswith("sqlite://"):
        from .sqlite import AsyncSQLiteStore

        return AsyncSQLiteStore(sqlite_path(url))
    if url.startswith(REDIS_SCHEMES):
        from .redis import AsyncRedisStore

        store = AsyncRedisStore(url)
        if not resilient:
            return store
        from ...credentials import mask_url
        from .resilient import AsyncResilientStore

        return AsyncResilientStore(store, name=mask_url(url))
    raise ConfigError(
        f"unsupported state store {url!r}; use memory, sqlite:///path or redis://host:port/db",
        key="state",
    )
