"""The async SQLite store: :class:`SQLiteStore`, run on one worker thread per store.

Every operation is the sync store's own transaction (no SQL here), submitted
to a single-thread executor: the loop never waits on the file or its lock,
the SQLite connection is only ever used by the thread that opened it, and
operations run one at a time in the order they were called. The store is
opened on the worker too, so even creating the schema happens off the loop;
an error opening it is raised by every operation.

One thread per store is the right width: SQLite admits one writer at a time
(``BEGIN IMMEDIATE``), so more threads would only queue on the file lock.
An operation waiting for another process's lock (up to ``busy_timeout_s``)
delays the store's later operations, never the loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..base import StateStore
from ..sqlite import SQLiteStore
from ._delegate import _SyncBacked

__all__ = ["AsyncSQLiteStore"]

T = TypeVar("T")


class AsyncSQLiteStore(_SyncBacked):
    """State in one SQLite file, shared with other processes; never blocks the loop."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-state-sqlite")
        # The first job of the FIFO worker: every later job finds it done.
        self._opened = self._worker.submit(
            SQLiteStore, self.path, clock=clock, busy_timeout_s=busy_timeout_s
        )

    def __repr__(self) -> str:
        return f"AsyncSQLiteStore({str(self.path)!r})"

    def _on_worker(self, op: Callable[[StateStore], T]) -> T:
        return op(self._opened.result())

    async def _call(self, op: Callable[[StateStore], T]) -> T:
        self._check_open()
        # Cancelling the awaiting task drops a job that has not started yet;
        # one already running completes (its result is discarded).
        return await asyncio.wrap_future(self._worker.submit(self._on_worker, op))

    def _close_on_worker(self) -> None:
        if self._opened.exception() is None:
            self._opened.result().close()

    async def _release(self) -> None:
        try:
            # Queued behind every operation already submitted, on the thread
            # that owns the connection.
            await asyncio.wrap_future(self._worker.submit(self._close_on_worker))
        finally:
            # The worker is idle now: joining it takes microseconds.
            self._worker.shutdown(wait=True)
