"""The gateway's access log: one JSON line per request on the ``router.gateway.access`` logger.

A line names the key (never the key itself), tenant, model, decision, target,
zone, status, error code and duration; never content, headers or query strings.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

__all__ = ["AccessEntry"]

access_log = logging.getLogger(__name__)


@dataclass
class AccessEntry:
    """One access-log line, filled in as the request goes (no content, no key)."""

    method: str
    path: str
    t0: float = field(default_factory=time.perf_counter)
    status: int = 0
    key: str | None = None
    tenant: str | None = None
    model: str | None = None
    stream: bool = False
    decision_id: str | None = None
    target: str | None = None
    zone: str | None = None
    error: str | None = None

    def write(self) -> None:
        """Log the line (at INFO, when that logger is enabled)."""
        if not access_log.isEnabledFor(logging.INFO):
            return
        record = {k: v for k, v in self.__dict__.items() if v is not None and k != "t0"}
        record["duration_ms"] = round((time.perf_counter() - self.t0) * 1000, 3)
        access_log.info(json.dumps(record, separators=(",", ":")))
