"""One routed call in flight: what every stage of the pipeline reads and annotates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.schema import RouteConfig
from ..policy.decision import Decision
from ..targets import Target
from ..types import ChatRequest, RequestContext
from .walker import Walker

__all__ = ["Call"]


@dataclass(slots=True, eq=False)
class Call:
    """A request, its context, its Decision and the walker executing it.

    ``extra`` carries per-call state of the pipeline's stages (a budget
    reservation, a tracing span) so stages need not know of each other.
    """

    request: ChatRequest
    context: RequestContext
    decision: Decision
    route: RouteConfig
    walker: Walker
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def request_for(self, target: Target) -> ChatRequest:
        """What ``target`` is sent: the request, or its redacted form for a zone a
        matched rule's ``redact`` names (``decision.redaction``)."""
        red = self.decision.redaction
        if red is None or not red.applies(target):
            return self.request
        return red.request_for(self.request)
