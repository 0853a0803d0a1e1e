"""The observer that writes one audit record per request."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from .audit import AuditLog, denied_record, policy_hash, request_record
from .observer import Observer

if TYPE_CHECKING:
    from ..config.schema import Config
    from ..errors import NoEligibleTarget
    from ..execution.call import Call
    from ..types import ChatResponse, RequestContext

__all__ = ["AuditObserver"]

log = logging.getLogger("router.telemetry")


class AuditObserver(Observer):
    """Appends a hash-chained record to ``path`` when a request ends or is denied.

    With ``telemetry.audit_key`` set, every record carries an HMAC under that
    key. A failed write is logged (path and error class, never the key) and
    does not fail the request: observer hooks never raise.
    """

    def __init__(self, config: Config, path: str | os.PathLike[str]) -> None:
        key = config.telemetry.audit_key
        self.log = AuditLog(path, key=key.get_secret_value() if key is not None else None)
        self.policy_hash = policy_hash(config)

    def request_ended(
        self,
        call: Call,
        *,
        response: ChatResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Write the request's record."""
        try:
            rec = request_record(call, policy=self.policy_hash, response=response, error=error)
            self.log.append(rec)
        except Exception as e:
            log.error("audit record not written to %s: %s", self.log.path, type(e).__name__)

    def request_denied(self, route: str, context: RequestContext, error: NoEligibleTarget) -> None:
        """Write the denial's record."""
        try:
            rec = denied_record(route, context.tenant, context.tags, error, policy=self.policy_hash)
            self.log.append(rec)
        except Exception as e:
            log.error("audit record not written to %s: %s", self.log.path, type(e).__name__)
