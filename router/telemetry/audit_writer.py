"""The audit log's background writer: a bounded queue, one thread per log file.

The request path does no file I/O: the audit observer hands each record to
:func:`submit`, which queues it for the file's :class:`AuditWriter`. Its one
thread takes records in the order they were queued and chains and writes them
with :meth:`~router.telemetry.audit.AuditLog.append_many` (which still holds
the file's ``flock``, so several processes can share a log).

**Backpressure, never loss.** When the queue is full, :meth:`AuditWriter.put`
blocks the calling thread until there is room and
:meth:`AuditWriter.put_async` waits on an asyncio future the writer resolves,
so the event loop keeps running. :func:`submit` picks: off an event loop,
``put``; inside an async call wrapped by :func:`awaits_audit` (or a block under
:class:`AuditHold`), the record is held and queued with ``put_async`` when the
call returns; anywhere else on a running loop (where neither blocking nor
awaiting is possible) :meth:`AuditWriter.offer` queues it beyond the bound.
A record is never dropped silently: a writer that fails logs the error once
(with how many queued records it lost) and every later enqueue raises
:class:`AuditWriterError`.

**Durability.** Each batch is ``write``-n as soon as the thread takes it, so a
record survives a crash of the process once it is written; a ``SIGKILL`` loses
at most what is still queued (the queue's size, plus records queued beyond it
by :meth:`AuditWriter.offer`). :meth:`AuditWriter.flush` and
:meth:`AuditWriter.close` return once everything queued before them is
written *and* ``fsync``-ed (one ``fsync`` per flush, off the request path).
Writers still running at interpreter exit are flushed and closed by an
``atexit`` handler; nothing runs on ``SIGKILL`` or ``os._exit``.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import itertools
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._lazylog import get_logger

if TYPE_CHECKING:
    import asyncio

    from .audit import AuditLog

# router.telemetry.audit (hashing, HMAC, its patterns) is imported with the
# first record: the facade imports this module, and most routers keep no log.

# asyncio is imported where a coroutine runs (so it is loaded already): a
# blocking router with an audit log does not load it.

__all__ = [
    "QUEUE_SIZE",
    "AuditHold",
    "AuditWriter",
    "AuditWriterError",
    "acquire",
    "awaits_audit",
    "release",
    "release_async",
    "submit",
]

log = get_logger("router.telemetry")

QUEUE_SIZE = 1024
"""Records a writer holds before ``put`` blocks and ``put_async`` waits."""

_BATCH = 512
"""Most records written with one ``write``."""


def _check_record(record: Mapping[str, Any]) -> None:
    from .audit import check_record  # loaded already: the record's AuditLog lives there

    check_record(record)


P = ParamSpec("P")
T = TypeVar("T")
_Item = tuple["AuditLog", Mapping[str, Any]]


class AuditWriterError(RuntimeError):
    """The audit writer cannot take a record: it stopped after an error, or was closed."""


def _describe(e: BaseException) -> str:
    """The error class (and an OS error's reason): never a message that could hold a key."""
    if isinstance(e, OSError) and e.strerror:
        return f"{type(e).__name__} ({e.strerror})"
    return type(e).__name__


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class AuditWriter:
    """The queue and the thread that write one audit log file, in order.

    Use :func:`acquire` to share one writer per file within the process. The
    thread starts with the first record; :meth:`close` (or :meth:`aclose`)
    writes what is queued, syncs the file and joins the thread.
    """

    def __init__(self, path: str | os.PathLike[str], maxsize: int = QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("the audit queue needs room for at least one record")
        self.path = os.fspath(path)
        self.maxsize = maxsize
        self._users = 0  # observers sharing it (guarded by the registry's lock)
        self._init_state()
        _live.add(self)

    def _init_state(self) -> None:
        # Re-entrant: a weakref finalizer run by the garbage collector may stop
        # the writer while this thread is inside one of its critical sections.
        self._lock = threading.RLock()
        self._work = threading.Condition(self._lock)  # the writer thread waits here
        self._room = threading.Condition(self._lock)  # blocked puts and flushes wait here
        self._queue: deque[_Item] = deque()
        self._queued = 0  # records ever queued
        self._done = 0  # records taken off the queue (written, or refused by the log)
        self._synced = 0  # records written and fsync-ed
        self._sync_to = 0  # a flush waits for _synced to reach this
        self._error: BaseException | None = None
        self._closing = False
        self._exited = False
        self._thread: threading.Thread | None = None
        self._wakeups: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        return f"AuditWriter({self.path!r}, queued={len(self._queue)}, maxsize={self.maxsize})"

    @property
    def failed(self) -> bool:
        """Whether the writer stopped after an error (it refuses records since)."""
        return self._error is not None

    # -- handing records over ---------------------------------------------------

    def put(self, audit: AuditLog, record: Mapping[str, Any]) -> None:
        """Queue ``record`` for ``audit``; while the queue is full, block until there is room."""
        _check_record(record)
        with self._lock:
            self._admit()
            while len(self._queue) >= self.maxsize:
                self._room.wait()
                self._admit()
            self._push((audit, record))

    async def put_async(self, audit: AuditLog, record: Mapping[str, Any]) -> None:
        """Queue ``record``; while the queue is full, wait without blocking the event loop.

        Cancelled while waiting, the record is still queued (beyond the bound)
        before the cancellation propagates: once called, it is not lost.
        """
        import asyncio

        _check_record(record)
        while True:
            with self._lock:
                self._admit()
                if len(self._queue) < self.maxsize:
                    self._push((audit, record))
                    return
                fut = self._wakeup()
            try:
                await fut
            except asyncio.CancelledError:
                self._push_anyway(audit, record)
                raise

    def offer(self, audit: AuditLog, record: Mapping[str, Any]) -> None:
        """Queue ``record`` at once, beyond the bound when the queue is full.

        For code on an event loop that can neither block nor await.
        """
        _check_record(record)
        with self._lock:
            self._admit()
            self._push((audit, record))

    def check(self) -> None:
        """Raise :class:`AuditWriterError` if the writer would refuse a record now."""
        with self._lock:
            self._admit()

    def _admit(self) -> None:
        if self._error is not None:
            raise AuditWriterError(
                f"the audit writer for {self.path} stopped after {_describe(self._error)}; "
                "audit records are not being written"
            ) from self._error
        if self._closing:
            raise AuditWriterError(f"the audit writer for {self.path} is closed")
        if self._thread is None:
            name = f"audit-writer {os.path.basename(self.path)}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _push(self, item: _Item) -> None:
        self._queue.append(item)
        self._queued += 1
        self._work.notify()

    def _push_anyway(self, audit: AuditLog, record: Mapping[str, Any]) -> None:
        try:
            self.offer(audit, record)
        except AuditWriterError as e:
            log.error("audit record not written to %s: %s", self.path, _describe(e))

    # -- waiting ----------------------------------------------------------------

    def _wakeup(self) -> asyncio.Future[None]:
        """A future the writer resolves at its next progress (call under the lock)."""
        import asyncio

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._wakeups.append((loop, fut))
        return fut

    async def _until(self, ready: Callable[[], bool]) -> None:
        while True:
            with self._lock:
                if ready():
                    return
                fut = self._wakeup()
            await fut

    def _progress(self) -> None:
        """Wake every waiter, threads and event loops (call under the lock)."""
        self._room.notify_all()
        wakeups, self._wakeups = self._wakeups, []
        for loop, fut in wakeups:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there
                loop.call_soon_threadsafe(_resolve, fut)

    def _ask_sync(self) -> int:
        """Ask the thread to write and fsync everything queued so far; that count."""
        target = self._queued
        if target > self._sync_to:
            self._sync_to = target
            self._work.notify()
        return target

    def _synced_to(self, target: int) -> bool:
        return self._synced >= target or self._error is not None or self._exited

    def _raise_short(self, target: int) -> None:
        if self._synced < target:
            if self._error is not None:
                self._admit()  # raises the writer's error
            raise AuditWriterError(f"the audit writer for {self.path} stopped before a flush")

    def flush(self) -> None:
        """Return once every record queued before the call is written and fsync-ed.

        Raises :class:`AuditWriterError` when the writer stopped before that.
        """
        with self._lock:
            target = self._ask_sync()
            self._room.wait_for(lambda: self._synced_to(target))
            self._raise_short(target)

    async def aflush(self) -> None:
        """:meth:`flush` without blocking the event loop."""
        with self._lock:
            target = self._ask_sync()
        await self._until(lambda: self._synced_to(target))
        with self._lock:
            self._raise_short(target)

    def stop(self) -> None:
        """Refuse new records; the thread writes and syncs the queue, then ends. No waiting."""
        with self._lock:
            self._closing = True
            self._ask_sync()
            self._work.notify()

    def close(self) -> None:
        """Write and fsync what is queued, then end the thread and join it. Never raises."""
        self.stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        self.stop()
        thread = self._thread
        if thread is not None:
            await self._until(lambda: self._exited)
            thread.join()  # it has left its loop: this returns at once

    # -- the writer thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._queue and self._sync_to <= self._synced:
                        if self._closing:
                            return
                        self._work.wait()
                    batch = list(itertools.islice(self._queue, _BATCH))
                    end = self._done + len(batch)
                    sync = self._sync_to > self._synced and end >= self._sync_to
                self._write(batch)
                if sync:
                    self._fsync()
                with self._lock:
                    if sync:
                        self._synced = end
                    self._progress()
        except BaseException as e:
            self._fail(e)
        finally:
            with self._lock:
                self._exited = True
                self._progress()

    def _write(self, batch: list[_Item]) -> None:
        for audit, group in itertools.groupby(batch, key=lambda item: item[0]):
            records = [rec for _, rec in group]
            try:
                audit.append_many(records)
            except OSError:
                raise
            except Exception:  # a record the log cannot take: write the others one by one
                for rec in records:
                    try:
                        audit.append(rec)
                    except OSError:
                        raise
                    except Exception as e:
                        log.error("audit record not written to %s: %s", self.path, _describe(e))
            with self._lock:
                for _ in records:
                    self._queue.popleft()
                self._done += len(records)

    def _fsync(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:  # nothing was ever written
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _fail(self, e: BaseException) -> None:
        with self._lock:
            lost = len(self._queue)
            self._queue.clear()
            self._error = e
            self._progress()
        _forget(self)
        log.error(
            "audit record not written to %s: %s; the audit writer stopped: %d queued "
            "record(s) lost, later records are refused",
            self.path,
            _describe(e),
            lost,
        )


# -- one writer per file ---------------------------------------------------------

_registry_lock = threading.RLock()
_writers: dict[str, AuditWriter] = {}
_live: weakref.WeakSet[AuditWriter] = weakref.WeakSet()


def acquire(path: str | os.PathLike[str], maxsize: int = QUEUE_SIZE) -> AuditWriter:
    """The process's writer for ``path`` (created when there is none); :func:`release` it.

    ``path`` is the key as given: resolve it (``os.path.realpath``) beforehand
    so that aliases of one file share a writer.
    """
    key = os.fspath(path)
    with _registry_lock:
        w = _writers.get(key)
        if w is None or w._closing or w.failed:
            w = _writers[key] = AuditWriter(key, maxsize)
        w._users += 1
        return w


def _forget(w: AuditWriter) -> None:
    with _registry_lock:
        if _writers.get(w.path) is w:
            del _writers[w.path]


def _drop_user(w: AuditWriter) -> bool:
    """One user fewer; whether it was the last one."""
    with _registry_lock:
        w._users -= 1
        last = w._users <= 0
    if last:
        _forget(w)
    return last


def release(w: AuditWriter, *, wait: bool = True) -> None:
    """A user is done with ``w``: flush it, and close it when it was the last user.

    With ``wait=False`` (a garbage-collected observer) nothing blocks: the last
    user's release stops the thread, which writes what is queued and ends.
    """
    if _drop_user(w):
        w.close() if wait else w.stop()
    elif wait:
        w.flush()


async def release_async(w: AuditWriter) -> None:
    """:func:`release` without blocking the event loop."""
    if _drop_user(w):
        await w.aclose()
    else:
        await w.aflush()


@atexit.register
def _close_all() -> None:
    """At interpreter exit, write and sync what every writer still holds."""
    for w in list(_live):
        w.close()


def _after_fork() -> None:
    """In a forked child: the parent's queues are the parent's to write; start afresh."""
    global _registry_lock
    _registry_lock = threading.RLock()
    for w in list(_live):
        w._init_state()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# -- from the request path -------------------------------------------------------


class AuditHold:
    """``async with AuditHold():`` records the block makes are queued with ``put_async`` at its end.

    So an async call waits (without blocking the loop) while the queue is
    full. A task the block starts inherits the hold while it is open (its
    records are queued at the block's end too); after, it queues its own.
    """

    __slots__ = ("_token", "items", "open")

    def __init__(self) -> None:
        self.items: list[tuple[AuditWriter, AuditLog, Mapping[str, Any]]] = []
        self.open = True
        self._token = _HELD.set(self)

    def _close(self) -> list[tuple[AuditWriter, AuditLog, Mapping[str, Any]]]:
        self.open = False
        try:  # noqa: SIM105 (contextlib.suppress costs a microsecond on every async call)
            _HELD.reset(self._token)
        except ValueError:  # a coroutine closed from another context
            pass
        items, self.items = self.items, []
        return items

    def _queue_now(self) -> None:
        """Queue what is held without waiting (a coroutine being closed cannot await)."""
        for w, audit, rec in self._close():
            w._push_anyway(audit, rec)

    async def _queue(self) -> None:
        items = self._close()
        for i, (w, audit, rec) in enumerate(items):
            try:
                await w.put_async(audit, rec)
            except AuditWriterError as e:
                log.error("audit record not written to %s: %s", w.path, _describe(e))
            except BaseException:  # cancelled: put_async queued its record; queue the rest now
                for w_, audit_, rec_ in items[i + 1 :]:
                    w_._push_anyway(audit_, rec_)
                raise

    async def __aenter__(self) -> AuditHold:
        return self

    async def __aexit__(self, et: type[BaseException] | None, *exc: object) -> None:
        if et is GeneratorExit:
            self._queue_now()
        else:
            await self._queue()


_HELD: contextvars.ContextVar[AuditHold | None] = contextvars.ContextVar(
    "router_audit_hold", default=None
)


def awaits_audit(
    fn: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate an async method so its audit records are queued under :class:`AuditHold`."""

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        hold = AuditHold()
        try:
            result = await fn(*args, **kwargs)
        except GeneratorExit:
            hold._queue_now()
            raise
        except BaseException:
            await hold._queue()
            raise
        if hold.items:
            await hold._queue()
        else:
            hold._close()
        return result

    return call


def submit(w: AuditWriter, audit: AuditLog, record: Mapping[str, Any]) -> None:
    """Hand ``record`` to ``w`` from the request path: no file I/O, never dropped.

    Off an event loop: :meth:`AuditWriter.put` (blocks while the queue is
    full). Under an open :class:`AuditHold`: held for ``put_async``.
    Elsewhere on a running loop: :meth:`AuditWriter.offer`.
    """
    aio = sys.modules.get("asyncio")  # not loaded: no event loop can be running
    loop = None if aio is None else aio.events._get_running_loop()
    if aio is None or loop is None:
        w.put(audit, record)
        return
    held = _HELD.get()
    if held is not None and held.open:
        _check_record(record)
        w.check()
        held.items.append((w, audit, record))
    else:
        w.offer(audit, record)
