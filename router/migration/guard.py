"""Guards: roll a split arm back to 0% when it regresses, and re-arm it on demand.

Outcomes of every attempt on the guarded arm and its baseline are counted in
the shared store (:mod:`.stats`). Every ``max(1, min_samples // 10)``-th
sample of the guarded arm re-evaluates the guard; a breach writes the trip
record with ``set_if_absent``, so exactly one process (the one that wins)
logs it and emits the span event, and every process sharing the store stops
sending the arm traffic from its next decision. ``resume`` deletes the record
and starts a fresh statistics epoch for the arm, so old failures cannot trip
it again at once.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..config.schema import GuardConfig, RouteConfig
from ..state.base import StateStore
from ..state.program import Program, op, run
from ..types import Attempt
from .ramp import iso
from .stats import Window, read_window, read_window_steps, record_steps

__all__ = [
    "GuardEvent",
    "GuardStatus",
    "evaluate",
    "guard_events",
    "guard_status",
    "record_attempts",
    "resume",
    "tripped_arms",
    "wilson_lower",
    "window_cells",
]

log = logging.getLogger("router.migration")

# Failures that say the caller's request was wrong, not that the arm is bad.
_CALLER_ERRORS = frozenset({"InvalidRequestError", "ContextLengthExceeded"})
_COUNTED = frozenset({"ok", "error", "timeout"})


def _trip_key(route: str, model: str) -> str:
    return f"mig:guard:{route}:{model}"


def _epoch_key(route: str, model: str) -> str:
    return f"mig:epoch:{route}:{model}"


def _events_key(route: str, model: str) -> str:
    return f"mig:ev:{route}:{model}"


_MAX_EVENTS = 500  # the newest trips and resumes a report reads


@dataclass(frozen=True, slots=True)
class GuardEvent:
    """A trip or a resume of a guarded arm, as recorded in the store."""

    at: float
    kind: str
    """``tripped`` or ``resumed``."""
    model: str
    reason: str


def _record_event(route: str, model: str, kind: str, at: float, reason: str) -> Program[None]:
    # A counter numbers the events: only atomic incr and set, so every store
    # (and every process sharing it) keeps one history in order.
    n = round((yield op("incr", _events_key(route, model))))
    body = {"at": at, "kind": kind, "model": model, "reason": reason}
    yield op("set", f"{_events_key(route, model)}:{n}", json.dumps(body))


def guard_events(store: StateStore, route: str, model: str) -> list[GuardEvent]:
    """The arm's trips and resumes, oldest first (the newest 500)."""
    raw = store.get(_events_key(route, model))
    last = 0 if raw is None else round(float(raw))
    out = []
    for n in range(max(1, last - _MAX_EVENTS + 1), last + 1):
        text = store.get(f"{_events_key(route, model)}:{n}")
        if text is None:
            continue
        try:
            d = json.loads(text)
            out.append(GuardEvent(float(d["at"]), str(d["kind"]), model, str(d["reason"])))
        except (ValueError, KeyError, TypeError):
            continue  # a foreign or torn value: not an event
    return sorted(out, key=lambda e: e.at)


def _epoch_steps(route: str, model: str) -> Program[int]:
    v = yield op("get", _epoch_key(route, model))
    return 0 if v is None else round(float(v))


def _epoch(store: StateStore, route: str, model: str) -> int:
    return run(_epoch_steps(route, model), store)


def tripped_arms(store: StateStore, route_name: str, route: RouteConfig) -> dict[str, str]:
    """:func:`tripped_arms_steps`, run on ``store``."""
    return run(tripped_arms_steps(route_name, route), store)


def tripped_arms_steps(route_name: str, route: RouteConfig) -> Program[dict[str, str]]:
    """Arms of ``route`` rolled back by their guard, with the reason (a store program)."""
    g = route.guard
    if g is None:
        return {}
    raw = yield op("get", _trip_key(route_name, g.model))
    if raw is None:
        return {}
    try:
        return {g.model: str(json.loads(raw)["reason"])}
    except (ValueError, KeyError, TypeError):
        return {g.model: "tripped (unreadable record)"}


def _metric(g: GuardConfig, w: Window) -> float | None:
    return w.error_rate if g.metric == "error_rate" else w.p95_ms


def _fmt(g: GuardConfig, v: float) -> str:
    return f"{v:.3f}" if g.metric == "error_rate" else f"{v:.0f}ms"


def evaluate(store: StateStore, route_name: str, g: GuardConfig, now: float) -> str | None:
    """:func:`evaluate_steps`, run on ``store``."""
    return run(evaluate_steps(route_name, g, now), store)


def evaluate_steps(route_name: str, g: GuardConfig, now: float) -> Program[str | None]:
    """Why the guard is breached at ``now``, or None when it holds (or lacks samples)."""
    lat = g.metric == "p95_latency_ms"
    arm = yield from read_window_steps(
        route_name,
        g.model,
        (yield from _epoch_steps(route_name, g.model)),
        now=now,
        window_s=g.window_s,
        latency=lat,
    )
    value = _metric(g, arm)
    if arm.samples < g.min_samples or value is None:
        return None
    what = f"{g.metric} {_fmt(g, value)} over {arm.samples} calls to {g.model}"
    # An error rate is judged by its one-sided 95% lower confidence bound, so
    # a handful of unlucky errors in a small sample is not a regression.
    judged = wilson_lower(arm.errors, arm.samples) if g.metric == "error_rate" else value
    if g.metric == "error_rate":
        what += f" (at least {judged:.3f} at 95% confidence)"
    if g.max_value is not None and judged > g.max_value:
        return f"{what} > max_value {_fmt(g, g.max_value)} (window {g.window_s:g}s)"
    if g.max_ratio is None:
        return None
    base = yield from read_window_steps(
        route_name,
        g.baseline,
        (yield from _epoch_steps(route_name, g.baseline)),
        now=now,
        window_s=g.window_s,
        latency=lat,
    )
    bvalue = _metric(g, base)
    if base.samples < g.min_samples or bvalue is None:
        return None
    # A flawless baseline would make any single error an infinite ratio:
    # count it as at most one error (or 1 ms) per window instead.
    floor = 1.0 / base.samples if g.metric == "error_rate" else 1.0
    ratio = judged / max(bvalue, floor)
    if ratio > g.max_ratio:
        return (
            f"{what} is {ratio:.1f}x the baseline {g.baseline}'s {_fmt(g, bvalue)} "
            f"over {base.samples} calls > max_ratio {g.max_ratio:g} (window {g.window_s:g}s)"
        )
    return None


def wilson_lower(errors: int, samples: int, z: float = 1.645) -> float:
    """The one-sided lower confidence bound (95% by default) of an error rate."""
    if samples == 0:
        return 0.0
    p = errors / samples
    denom = 1 + z * z / samples
    centre = p + z * z / (2 * samples)
    margin = z * math.sqrt(p * (1 - p) / samples + z * z / (4 * samples * samples))
    return max(0.0, (centre - margin) / denom)


def _trip(route_name: str, g: GuardConfig, reason: str, now: float) -> Program[bool]:
    body = {"model": g.model, "reason": reason, "metric": g.metric, "at": now}
    if not (yield op("set_if_absent", _trip_key(route_name, g.model), json.dumps(body))):
        return False  # another process (or call) tripped it first and reported it
    yield from _record_event(route_name, g.model, "tripped", now, reason)
    log.warning(
        "migration guard tripped: route %s arm %s rolled back to 0%%: %s",
        route_name,
        g.model,
        reason,
    )
    from opentelemetry import trace  # only here: a router need not load OpenTelemetry

    trace.get_current_span().add_event(
        "llm_router.migration.guard_tripped",
        {"llm_router.route": route_name, "llm_router.arm": g.model, "llm_router.reason": reason},
    )
    return True


def record_attempts(
    store: StateStore,
    route_name: str,
    route: RouteConfig,
    attempts: Iterable[Attempt],
    now: float,
) -> str | None:
    """:func:`record_attempts_steps`, run on ``store``."""
    return run(record_attempts_steps(route_name, route, attempts, now), store)


def record_attempts_steps(
    route_name: str,
    route: RouteConfig,
    attempts: Iterable[Attempt],
    now: float,
) -> Program[str | None]:
    """Count the attempts on a guarded route; trip the guard on a breach.

    Returns the reason when this call tripped the guard.
    """
    g = route.guard
    if g is None:
        return None
    every = max(1, g.min_samples // 10)
    check = False
    for a in attempts:
        if a.target not in (g.model, g.baseline) or a.outcome not in _COUNTED:
            continue
        if a.error in _CALLER_ERRORS:
            continue
        n = yield from record_steps(
            route_name,
            a.target,
            (yield from _epoch_steps(route_name, a.target)),
            ok=a.outcome == "ok",
            latency_ms=a.latency_s * 1000.0,
            now=now,
            window_s=g.window_s,
        )
        check = check or (a.target == g.model and n % every == 0)
    if not check or (yield op("get", _trip_key(route_name, g.model))) is not None:
        return None
    reason = yield from evaluate_steps(route_name, g, now)
    if reason is not None and (yield from _trip(route_name, g, reason, now)):
        return reason
    return None


def resume(store: StateStore, route_name: str, model: str, now: float | None = None) -> bool:
    """Re-arm ``model`` on ``route_name``: clear its trip and start fresh statistics.

    Returns whether the arm was rolled back. The resume is recorded (at
    ``now``, default the clock) for :func:`guard_events`.
    """
    was = store.get(_trip_key(route_name, model)) is not None
    store.incr(_epoch_key(route_name, model))
    store.delete(_trip_key(route_name, model))
    why = "re-armed after a rollback" if was else "statistics restarted (was not rolled back)"
    at = time.time() if now is None else now
    run(_record_event(route_name, model, "resumed", at, why), store)
    log.warning("migration guard re-armed: route %s arm %s", route_name, model)
    return was


def window_cells(name: str, w: Window) -> list[str]:
    """One arm's window as printed: name, calls, errors, error rate, p95."""
    p95 = "-" if w.p95_ms is None else f"{w.p95_ms:.0f}ms"
    return [name, str(w.samples), str(w.errors), f"{w.error_rate:.3f}", p95]


@dataclass(frozen=True, slots=True)
class GuardStatus:
    """A guard's state and the windows it is judged on."""

    guard: GuardConfig
    tripped: dict[str, Any] | None
    arm: Window
    baseline: Window

    def describe(self) -> str:
        """One readable paragraph."""
        g = self.guard
        limit = []
        if g.max_ratio is not None:
            limit.append(f"max_ratio {g.max_ratio:g}")
        if g.max_value is not None:
            limit.append(f"max_value {g.max_value:g}")
        head = (
            f"guard on {g.model} vs {g.baseline}: {g.metric} {' / '.join(limit)}, "
            f"window {g.window_s:g}s, min_samples {g.min_samples}"
        )
        state = (
            "ARMED"
            if self.tripped is None
            else f"TRIPPED at {iso(float(self.tripped.get('at', 0)))}: {self.tripped.get('reason')}"
        )

        def w(name: str, x: Window) -> str:
            _, calls, _, rate, p95 = window_cells(name, x)
            return f"{name}: {calls} calls, error_rate {rate}, p95 {p95}"

        return "\n".join(
            [
                head,
                f"  state: {state}",
                "  " + w(g.model, self.arm),
                "  " + w(g.baseline, self.baseline),
            ]
        )


def guard_status(store: StateStore, route_name: str, route: RouteConfig, now: float) -> GuardStatus:
    """The guard of ``route`` as the store sees it at ``now``."""
    g = route.guard
    if g is None:
        raise ValueError(f"route {route_name!r} has no guard")
    raw = store.get(_trip_key(route_name, g.model))
    tripped: dict[str, Any] | None = None
    if raw is not None:
        try:
            tripped = dict(json.loads(raw))
        except ValueError:
            tripped = {"reason": "tripped (unreadable record)"}

    def win(model: str) -> Window:
        return read_window(
            store, route_name, model, _epoch(store, route_name, model), now=now, window_s=g.window_s
        )

    return GuardStatus(g, tripped, win(g.model), win(g.baseline))
