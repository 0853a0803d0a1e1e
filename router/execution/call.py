"""One routed call in flight: what every stage of the pipeline reads and annotates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..config.schema import RouteConfig
from ..policy.decision import Decision
from ..targets import Target
from ..types import ChatRequest, RequestContext, RouteInfo, Usage
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

    def route_info(
        self, target: Target, usage: Usage | None, cache: Literal["miss"] | None = None
    ) -> RouteInfo:
        """Where the call went and what it cost: the ``route`` of its answer.

        ``usage`` ``None`` is a cache hit: nothing was sent, nothing spent;
        ``cache`` says ``miss`` when the route's cache applied and had nothing.
        """
        if usage is None:
            return RouteInfo(
                route=self.decision.route,
                target=target.name,
                provider=target.provider,
                zone=target.zone,
                attempts=[],
                cost_usd=0.0,
                amortised_cost_usd=None if target.cost is None else 0.0,
                decision_id=self.decision.id,
                cache="hit",
            )
        from ..accounting.pricing import amortised_cost_usd, cost_usd

        return RouteInfo(
            route=self.decision.route,
            target=target.name,
            provider=target.provider,
            zone=target.zone,
            attempts=list(self.walker.attempts),
            cost_usd=cost_usd(target, usage),
            amortised_cost_usd=amortised_cost_usd(target, usage),
            cost_estimated=usage.estimated,
            decision_id=self.decision.id,
            cache=cache,
        )

    def request_for(self, target: Target) -> ChatRequest:
        """What ``target`` is sent: the request, or its redacted form for a zone a
        matched rule's ``redact`` names (``decision.redaction``)."""
        red = self.decision.redaction
        if red is None or not red.applies(target):
            return self.request
        return red.request_for(self.request)
