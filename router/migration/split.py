"""Weighted, sticky assignment of a request to a split arm.

Assignment uses weighted rendezvous hashing: every arm draws a score from a
hash of (route, sticky key, arm) and the best score wins, with probability
exactly proportional to the arm's weight. Unlike cumulative intervals, this
is *minimally disruptive* for any number of arms: when one arm's weight
rises, only users moving *to* that arm move; when an arm is rolled back or
excluded, only its own users move, spread over the others in proportion to
their weights, and they come back when it returns.

The split is applied after the policy: it only reorders (never extends) the
Decision's plan, so policy closure holds by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from ..config.schema import RouteConfig
from ..policy.decision import Decision
from ..targets import Target
from ..types import RequestContext
from .hashing import unit
from .ramp import arm_weights, iso, ramp_pct

__all__ = ["apply_split", "pick", "sticky_key"]


def pick(route: str, key: str, weights: Mapping[str, float]) -> str | None:
    """The arm ``key`` is assigned to among arms of positive weight (None if there is none)."""
    best: str | None = None
    best_score = math.inf
    for arm, w in weights.items():
        if w <= 0:
            continue
        # -ln(U)/w is exponential with rate w: the minimum of such draws falls
        # on arm i with probability w_i / sum(w).
        score = -math.log(unit(route, key, arm)) / w
        if score < best_score:
            best, best_score = arm, score
    return best


def sticky_key(route: RouteConfig, context: RequestContext) -> tuple[str | None, str]:
    """The value the route is sticky by for this request (None when absent), and its label."""
    by = route.sticky_by
    if by is None:
        return None, "request"
    if by == "user":
        return context.user, by
    if by == "tenant":
        return context.tenant, by
    name = by.removeprefix("metadata.")
    return context.metadata.get(name), by


def apply_split(
    decision: Decision,
    route: RouteConfig,
    context: RequestContext,
    now: float,
    disabled_arms: Mapping[str, str] | None = None,
    *,
    request_id: str = "",
) -> Decision:
    """``decision`` with the assigned split arm first and the rest as fallbacks.

    ``disabled_arms`` maps arms rolled back by a guard to the reason; they get
    weight 0 and move to the end of the plan (kept only as a last resort: a
    request whose policy admits nothing else still gets an answer). Arms the
    policy excluded for this request give their share to the admitted ones.
    Deterministic: the same inputs give the same Decision.
    """
    if not route.split:
        return decision
    disabled = dict(disabled_arms or {})
    weights = arm_weights(route, now, disabled)
    planned = {t.name for t in decision.plan}
    live = {a: w for a, w in weights.items() if a in planned and w > 0}
    notes = list(decision.notes)
    if route.ramp is not None:
        notes.append(
            f"ramp: {route.ramp.model} at {ramp_pct(route.ramp, now):.1f}% on {iso(now)} "
            f"({route.ramp.from_pct:g}% → {route.ramp.to_pct:g}% from "
            f"{route.ramp.start.date()} to {route.ramp.end.date()})"
        )
    for arm, reason in disabled.items():
        notes.append(f"split: arm {arm} rolled back by its guard (weight 0): {reason}")
    for arm, w in weights.items():
        if arm not in planned and w > 0:
            notes.append(
                f"split: arm {arm} excluded by policy for this request; "
                f"its {w:.1f}% went to the other arms"
            )
    value, by = sticky_key(route, context)
    if value is None:
        key = f"request={request_id or decision.id}"
        how = "not sticky" if by == "request" else f"not sticky: the request has no {by}"
    else:
        key, how = f"{by}={value}", f"sticky by {by}"
    chosen = pick(decision.route, key, live)
    if chosen is None:
        notes.append("split: no admitted arm has a positive weight; the policy's order is kept")
        plan = _last(decision.plan, disabled)
        return replace(decision, plan=plan, notes=tuple(notes))
    share = 100.0 * live[chosen] / sum(live.values())
    notes.append(f"split: arm {chosen} ({share:.1f}% of this request's arms, {how})")
    first = next(t for t in decision.plan if t.name == chosen)
    rest = tuple(t for t in decision.plan if t.name != chosen)
    extra = {
        **decision.extra,
        "split": {"arm": chosen, "share_pct": share, "weights": weights, "key": by},
    }
    # Without fallback only the assigned arm is ever tried: say so in the plan.
    plan = (first, *_last(rest, disabled)) if decision.fallback else (first,)
    return replace(decision, plan=plan, notes=tuple(notes), extra=extra)


def _last(plan: tuple[Target, ...], disabled: Mapping[str, str]) -> tuple[Target, ...]:
    """``plan`` with the rolled-back arms moved to its end, order otherwise kept."""
    return tuple(t for t in plan if t.name not in disabled) + tuple(
        t for t in plan if t.name in disabled
    )
