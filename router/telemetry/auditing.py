"""The observer that writes one audit record per request."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING

from .audit import AuditLog, denied_record, policy_hash, request_record
from .audit_writer import (
    QUEUE_SIZE,
    AuditWriter,
    AuditWriterError,
    acquire,
    release,
    release_async,
    submit,
)
from .observer import Observer

if TYPE_CHECKING:
    from ..config.schema import Config
    from ..embeddings.types import EmbeddingResponse
    from ..errors import NoEligibleTarget
    from ..execution.call import Call
    from ..types import ChatResponse, RequestContext

__all__ = ["AuditObserver"]

log = logging.getLogger("router.telemetry")


class AuditObserver(Observer):
    """Appends a hash-chained record to ``path`` when a request ends or is denied.

    With ``telemetry.audit_key`` set, every record carries an HMAC under that
    key. The hooks do no file I/O: they hand the record to the file's
    background :class:`~router.telemetry.audit_writer.AuditWriter` (waiting
    while its queue is full). A record that cannot be handed over (the writer
    stopped after an error) is logged (path and error class, never the key)
    and does not fail the request: observer hooks never raise.
    :meth:`close` (called by ``Router.close``) flushes the log to disk.
    """

    def __init__(
        self, config: Config, path: str | os.PathLike[str], *, queue_size: int = QUEUE_SIZE
    ) -> None:
        key = config.telemetry.audit_key
        self.log = AuditLog(path, key=key.get_secret_value() if key is not None else None)
        self.policy_hash = policy_hash(config)
        self.queue_size = queue_size
        self._file = os.path.realpath(self.log.path)  # aliases of one file share its writer
        self._lock = threading.Lock()
        self._writer: AuditWriter | None = None
        self._finalizer: weakref.finalize[..., AuditObserver] | None = None

    def writer(self) -> AuditWriter:
        """The file's writer, shared with every other observer of the file in the process."""
        w = self._writer
        if w is None:
            with self._lock:
                w = self._writer
                if w is None:
                    w = self._writer = acquire(self._file, self.queue_size)
                    # Never closed: released when collected, flushed at exit at the latest.
                    self._finalizer = weakref.finalize(self, release, w, wait=False)
                    self._finalizer.atexit = False
        return w

    def _submit(self, rec: dict[str, object]) -> None:
        submit(self.writer(), self.log, rec)

    def request_ended(
        self,
        call: Call,
        *,
        response: ChatResponse | EmbeddingResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Queue the request's record."""
        try:
            rec = request_record(call, policy=self.policy_hash, response=response, error=error)
            self._submit(rec)
        except Exception as e:
            log.error("audit record not written to %s: %s", self.log.path, type(e).__name__)

    def request_denied(self, route: str, context: RequestContext, error: NoEligibleTarget) -> None:
        """Queue the denial's record."""
        try:
            rec = denied_record(route, context.tenant, context.tags, error, policy=self.policy_hash)
            self._submit(rec)
        except Exception as e:
            log.error("audit record not written to %s: %s", self.log.path, type(e).__name__)

    def flush(self) -> None:
        """Return once every record queued so far is written and fsync-ed.

        Raises :class:`~router.telemetry.audit_writer.AuditWriterError` when
        the writer stopped first (its error was logged when it stopped).
        """
        w = self._writer
        if w is not None:
            w.flush()

    def _detach(self) -> AuditWriter | None:
        with self._lock:
            w, fin = self._writer, self._finalizer
            self._writer = self._finalizer = None
        if fin is not None:
            fin.detach()
        return w

    def close(self) -> None:
        """Flush, and end the writer's thread if no other observer of the file uses it."""
        w = self._detach()
        if w is not None:
            with contextlib.suppress(AuditWriterError):  # logged once, when it stopped
                release(w)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        w = self._detach()
        if w is not None:
            with contextlib.suppress(AuditWriterError):  # logged once, when it stopped
                await release_async(w)
