"""Gradual migration: weighted sticky splits, ramps, guards with rollback, shadow traffic.

The facade runs two store programs: :func:`route_traffic_steps` right after
the policy decided (it reorders the Decision's plan; it never adds a target)
and :func:`record_outcome_steps` when a call ended (guard statistics). Shadows run
through :class:`ShadowRunner` / :class:`AsyncShadowRunner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazyexports import lazy_exports
from .._lazylog import get_logger
from ..state.program import Program

if TYPE_CHECKING:
    from ..config.schema import RouteConfig
    from ..execution.call import Call
    from ..policy.decision import Decision
    from ..policy.snapshot import Snapshot
    from ..types import RequestContext
    from .compare import similarity, summarise_log, summarise_store
    from .guard import evaluate, guard_events, guard_status, record_attempts, resume, tripped_arms
    from .ramp import arm_weights, ramp_pct
    from .shadow import AsyncShadowRunner, ShadowPlanner, ShadowRunner, sampled
    from .split import apply_split, pick, sticky_key

__all__ = [
    "AsyncShadowRunner",
    "ShadowPlanner",
    "ShadowRunner",
    "apply_split",
    "arm_weights",
    "evaluate",
    "guard_events",
    "guard_status",
    "pick",
    "ramp_pct",
    "record_attempts",
    "record_outcome_steps",
    "resume",
    "route_traffic_steps",
    "sampled",
    "similarity",
    "sticky_key",
    "summarise_log",
    "summarise_store",
    "tripped_arms",
]

log = get_logger("router.migration")

# A router whose routes use no split, guard or shadow never loads the
# submodules: they are imported on first use (PEP 562), which keeps start-up short.
_LAZY = {
    "AsyncShadowRunner": "shadow",
    "ShadowPlanner": "shadow",
    "ShadowRunner": "shadow",
    "sampled": "shadow",
    "apply_split": "split",
    "pick": "split",
    "sticky_key": "split",
    "arm_weights": "ramp",
    "ramp_pct": "ramp",
    "evaluate": "guard",
    "guard_events": "guard",
    "guard_status": "guard",
    "record_attempts": "guard",
    "resume": "guard",
    "tripped_arms": "guard",
    "similarity": "compare",
    "summarise_log": "compare",
    "summarise_store": "compare",
}

__getattr__ = lazy_exports(__name__, _LAZY)


def route_traffic_steps(
    decision: Decision,
    route: RouteConfig | None,
    context: RequestContext,
    snapshot: Snapshot,
) -> Program[Decision]:
    """Apply the route's split (ramp and guard state included) to a policy Decision."""
    if route is None or not route.split:
        return decision
    from .guard import tripped_arms_steps
    from .split import apply_split

    try:
        disabled = yield from tripped_arms_steps(decision.route, route)
    except Exception as e:
        # Unknown guard state: keep traffic on the known-good arms rather
        # than silently undo a rollback.
        log.warning(
            "migration guard state unreadable (%s); guarded arm held at 0%%", type(e).__name__
        )
        disabled = {route.guard.model: "guard state unreadable"} if route.guard else {}
    return apply_split(
        decision, route, context, snapshot.now, disabled, request_id=snapshot.request_id
    )


def record_outcome_steps(call: Call, now: float) -> Program[None]:
    """Count a finished call's attempts for its route's guard (never raises)."""
    if call.route.guard is None:
        return
    from .guard import record_attempts_steps

    try:
        yield from record_attempts_steps(call.decision.route, call.route, call.walker.attempts, now)
    except Exception as e:
        log.warning("migration statistics not recorded: %s", type(e).__name__)
