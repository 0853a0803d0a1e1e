"""The decision engine: a pure function from config, request, context and snapshot to a Decision.

It imports no HTTP library and reads no clock (time comes from the snapshot).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ..config.schema import Config, RouteConfig
from ..errors import NoEligibleTarget, UnknownRoute
from ..targets import Target, resolve_targets
from ..types import ChatRequest, RequestContext
from .decision import Decision, Limits, SensitivityResult
from .snapshot import Snapshot

__all__ = ["Policy", "decide"]

_EMPTY_CONTEXT = RequestContext()


class Policy:
    """A config compiled for deciding: targets resolved, routes indexed."""

    def __init__(self, config: Config, targets: Mapping[str, Target] | None = None) -> None:
        self.config = config
        self.targets = dict(targets) if targets is not None else resolve_targets(config)
        self._levels = {lvl: i for i, lvl in enumerate(config.sensitivity.levels)}

    def route_for(self, model: str) -> tuple[str, RouteConfig]:
        """The route ``model`` names, or a one-candidate route for a model name."""
        route = self.config.routes.get(model)
        if route is not None:
            return model, route
        if model in self.targets:
            return model, RouteConfig(candidates=(model,))
        known = sorted({*self.config.routes, *self.targets})
        raise UnknownRoute(f"no route or model named {model!r}; known: {', '.join(known)}")

    def decide(
        self,
        request: ChatRequest,
        context: RequestContext | None = None,
        snapshot: Snapshot | None = None,
        *,
        model: str = "default",
    ) -> Decision:
        """The Decision for one request; raises NoEligibleTarget on an empty plan."""
        ctx = context or _EMPTY_CONTEXT
        snap = snapshot or Snapshot()
        route_name, route = self.route_for(model)
        declared = ctx.sensitivity
        if declared is not None and declared not in self._levels:
            raise NoEligibleTarget(
                f"unknown sensitivity level {declared!r}; levels: "
                + ", ".join(self.config.sensitivity.levels)
            )
        level = declared or self.config.sensitivity.default
        plan = tuple(self.targets[n] for n in route.all_models())
        decision = Decision(
            id=_decision_id(snap.request_id, route_name),
            route=route_name,
            plan=plan if route.fallback else plan[:1],
            excluded={},
            matched_rules=(),
            sensitivity=SensitivityResult(declared=declared, detected=None, level=level),
            limits=Limits(max_cost_usd=ctx.max_cost_usd, min_quality=ctx.min_quality),
            fallback=route.fallback,
            budgets=tuple(
                (r.name, r.budget)
                for r in self.config.rules
                if r.budget is not None and r.when is None
            ),
        )
        if not decision.plan:
            raise NoEligibleTarget(
                f"no eligible target for route {route_name!r}\n{decision.explain()}", decision
            )
        return decision


def _decision_id(request_id: str, route: str) -> str:
    return hashlib.blake2s(f"{request_id}|{route}".encode(), digest_size=8).hexdigest()


def decide(
    config: Config,
    request: ChatRequest,
    context: RequestContext | None = None,
    snapshot: Snapshot | None = None,
    *,
    model: str = "default",
) -> Decision:
    """Decide one request against ``config`` (compiles it; reuse a :class:`Policy` when hot)."""
    return Policy(config).decide(request, context, snapshot, model=model)
