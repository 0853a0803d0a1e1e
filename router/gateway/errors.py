"""Errors as HTTP answers: the status each SDK maps to its own exception type.

:func:`classify` turns anything the router raises into a :class:`GatewayError`
(status, type, code, message, extra headers); :func:`openai_body` and
:func:`anthropic_body` give it the shape of each API. Messages are the
router's own (scrubbed of provider secrets by the router); a presented key is
never part of one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from ..accounting.windows import window
from ..errors import (
    BudgetExceeded,
    ContextLengthExceeded,
    InvalidRequestError,
    NoEligibleTarget,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
    RequestError,
    StateUnavailable,
    StreamInterrupted,
    UnknownRoute,
)

__all__ = ["GatewayError", "anthropic_body", "classify", "openai_body"]


@dataclass
class GatewayError(Exception):
    """An answer that is an error: ``status``, OpenAI ``type`` and ``code``, message."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    decision_id: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)


# Anthropic's error types by status (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def openai_body(err: GatewayError) -> bytes:
    """``{"error": {message, type, param, code}}``, as OpenAI answers errors."""
    body = {
        "error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}
    }
    return json.dumps(body).encode()


def anthropic_body(err: GatewayError) -> bytes:
    """``{"type": "error", "error": {type, message}}``, as Anthropic answers errors."""
    kind = _ANTHROPIC_TYPES.get(err.status, "api_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": err.message}}).encode()


def _retry_after(seconds: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(seconds)))}


def _budget_reset_s(err: BudgetExceeded, now: float) -> float:
    """Seconds until the refusing budget windows reset (the latest of them)."""
    budgets = getattr(err.decision, "budgets", ()) or ()
    text = str(err)
    # The refusal names each refusing budget as "budget '<rule>':"; the others admitted.
    refused = [b for name, b in budgets if f"budget {name!r}:" in text] or [b for _, b in budgets]
    if not refused:
        return 60.0
    return max(window(b.per, now)[1] for b in refused) - now


def _provider(e: ProviderError) -> GatewayError:
    """An upstream failure after the whole plan was tried."""
    msg = f"upstream error after the plan was exhausted: {e}"
    if isinstance(e, ContextLengthExceeded):
        return GatewayError(400, str(e), code="context_length_exceeded")
    if isinstance(e, RateLimitError):
        headers = _retry_after(e.retry_after_s) if e.retry_after_s else {}
        if e.code == "rate_limited":  # the router's own limit (docs/limits.md): nothing was sent
            return GatewayError(
                429, str(e), type="rate_limit_error", code="rate_limited", headers=headers
            )
        return GatewayError(
            429, msg, type="rate_limit_error", code="upstream_rate_limited", headers=headers
        )
    if isinstance(e, ProviderTimeout):
        return GatewayError(504, msg, type="timeout_error", code="upstream_timeout")
    if isinstance(e, ProviderUnavailable):
        # Every target skipped by an open breaker, or one saying 503: unavailable for now.
        skipped = bool(e.attempts) and all(a.outcome == "breaker_open" for a in e.attempts)
        status = 503 if skipped or e.status == 503 else 502
        return GatewayError(status, msg, type="api_error", code="upstream_unavailable")
    if isinstance(e, InvalidRequestError) and e.status in (400, 422):
        return GatewayError(400, str(e), code=e.code or "invalid_request")
    # Upstream authentication and the rest are the gateway's problem, not the caller's.
    return GatewayError(502, msg, type="api_error", code="upstream_error")


def classify(e: BaseException, *, now: float | None = None) -> GatewayError:
    """The answer for an exception the router (or the gateway) raised."""
    if isinstance(e, GatewayError):
        return e
    decision = getattr(e, "decision", None)
    decision_id = getattr(decision, "id", None)
    out: GatewayError
    if isinstance(e, BudgetExceeded):
        reset = _budget_reset_s(e, time.time() if now is None else now)
        out = GatewayError(
            429,
            str(e).split("\n", 1)[0],
            type="rate_limit_error",
            code="budget_exceeded",
            headers=_retry_after(reset),
        )
    elif isinstance(e, NoEligibleTarget):
        out = GatewayError(403, _summary(e), type="permission_error", code="policy_denied")
    elif isinstance(e, UnknownRoute):
        out = GatewayError(404, str(e), code="model_not_found", param="model")
    elif isinstance(e, RequestError):
        out = GatewayError(400, str(e), param=e.field)
    elif isinstance(e, StateUnavailable):
        out = GatewayError(503, str(e), type="api_error", code="state_unavailable")
    elif isinstance(e, StreamInterrupted):
        out = GatewayError(502, str(e), type="api_error", code="stream_interrupted")
    elif isinstance(e, ProviderError):
        out = _provider(e)
    else:
        out = GatewayError(500, "internal error", type="api_error", code="internal_error")
    out.decision_id = decision_id
    return out


def _summary(e: NoEligibleTarget) -> str:
    """The refusal's first line and why each candidate was excluded (no content)."""
    decision: Any = e.decision
    head = str(e).split("\n", 1)[0]
    if decision is None:
        return head
    reasons = "; ".join(
        f"{name}: {', '.join(why)}" for name, why in getattr(decision, "excluded", {}).items()
    )
    return f"{head} ({reasons})" if reasons else head
