"""An async view of a sync store the caller owns: its operations on a worker thread.

For an ``AsyncRouter`` given a sync :class:`~router.state.StateStore`
(``store=``) other than a :class:`~router.state.MemoryStore`: the loop
never waits on the store's I/O, and operations run one at a time, in the
order they were called, on one thread (the sync stores are not all safe to
drive from several threads at once). For throughput under many requests in
flight, pass an :class:`~router.state.AsyncStateStore` instead. Closing the
view stops its thread; the store itself stays the caller's to close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..base import StateStore
from ._delegate import _SyncBacked

__all__ = ["AsyncThreadStore"]

T = TypeVar("T")


class AsyncThreadStore(_SyncBacked):
    """``store``'s operations, awaited, on one worker thread."""

    def __init__(self, store: StateStore) -> None:
        #: The wrapped sync store (not closed by this view).
        self.store = store
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-state")

    def __repr__(self) -> str:
        return f"AsyncThreadStore({self.store!r})"

    async def _call(self, op: Callable[[StateStore], T]) -> T:
        self._check_open()
        return await asyncio.wrap_future(self._worker.submit(op, self.store))

    async def _release(self) -> None:
        # Queued behind every operation already submitted.
        await asyncio.wrap_future(self._worker.submit(lambda: None))
        self._worker.shutdown(wait=True)
