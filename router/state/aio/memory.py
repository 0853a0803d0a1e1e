"""The in-process async store: a :class:`MemoryStore`, called directly on the loop.

A memory operation is a few dict updates under a lock held for microseconds,
never I/O, so running it inline is cheaper than any hand-off and cannot stall
the loop. Wrap the :class:`MemoryStore` a sync ``Router`` uses to share its
state with an ``AsyncRouter`` of the same process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..base import StateStore
from ..memory import MemoryStore
from ._delegate import _SyncBacked

__all__ = ["AsyncMemoryStore"]

T = TypeVar("T")


class AsyncMemoryStore(_SyncBacked):
    """State shared by the routers of one process; lost when it exits."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        #: The wrapped sync store (sync code may use it too).
        self.store = store if store is not None else MemoryStore()
        self._owned = store is None

    def __repr__(self) -> str:
        return "AsyncMemoryStore()"

    async def _call(self, op: Callable[[StateStore], T]) -> T:
        self._check_open()
        return op(self.store)

    async def _release(self) -> None:
        if self._owned:  # a store passed in stays its owner's to close
            self.store.close()
