"""``llm-router migration``: see splits, ramps and guards; re-arm a guard; report the evidence."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from .. import state as _state
from ..config import Config, load_file
from ..config.schema import RouteConfig
from ..errors import ConfigError, UnknownRoute
from ._args import store_errors

if TYPE_CHECKING:
    from ..migration.report import RouteEvidence

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``migration`` subcommand and its actions."""
    p = sub.add_parser("migration", help="traffic splits, ramps, guards and shadow reports")
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = acts.add_parser("status", help="each split's weights, ramp and guard state")
    s.add_argument("config", help="config file")
    s.add_argument("--route", help="only this route")
    s.add_argument("--at", help="show the weights at this ISO date/datetime (UTC) instead of now")
    s.set_defaults(func=_status)

    r = acts.add_parser("resume", help="re-arm a guard that rolled an arm back")
    r.add_argument("config", help="config file")
    r.add_argument("--route", required=True)
    r.add_argument("--model", help="the guarded arm (default: the route's guard model)")
    r.set_defaults(func=_resume)

    rep = acts.add_parser(
        "report", help="traffic per arm against the schedule, guard history, shadow comparisons"
    )
    rep.add_argument("config", help="config file")
    rep.add_argument("--route", help="only this route")
    out = rep.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument(
        "--html",
        metavar="FILE",
        help="write the report as one self-contained HTML page with charts (no network needed)",
    )
    rep.set_defaults(func=_report)


def _routes(cfg: Config, only: str | None, *need: str) -> dict[str, RouteConfig]:
    if only is not None:
        if only not in cfg.routes:
            raise UnknownRoute(f"no route named {only!r}; routes: {', '.join(sorted(cfg.routes))}")
        return {only: cfg.routes[only]}
    return {n: r for n, r in cfg.routes.items() if any(getattr(r, k) for k in need)}


def _memory_warning(cfg: Config) -> None:
    if cfg.state == "memory":
        print(
            "note: state is 'memory': guard state and statistics live inside each router "
            "process; configure a shared store (sqlite:/// or redis://) to see and change them "
            "from here.",
            file=sys.stderr,
        )


@store_errors()
def _status(args: argparse.Namespace) -> int:
    from ..migration import arm_weights, guard_status, ramp_pct, tripped_arms
    from ..migration.compare import summarise_store
    from ..migration.ramp import iso, parse_instant

    cfg = load_file(args.config)
    now = time.time()
    if args.at:
        now = parse_instant(args.at)
    routes = _routes(cfg, args.route, "split")
    if not routes:
        print("no route has a split")
        return 0
    _memory_warning(cfg)
    store = _state.open_store(cfg.state)
    try:
        for name, route in routes.items():
            print(f"route {name}  (at {iso(now)})")
            tripped = tripped_arms(store, name, route)
            configured = arm_weights(route, now)
            effective = arm_weights(route, now, tripped)
            total = sum(effective.values())
            sticky = route.sticky_by or "nothing (per request)"
            print(f"  split, sticky by {sticky}:")
            for arm, w in configured.items():
                eff = 100.0 * effective[arm] / total if total else 0.0
                flag = "  ROLLED BACK" if arm in tripped else ""
                print(f"    {arm:<24} scheduled {w:6.2f}%   in force {eff:6.2f}%{flag}")
            if route.ramp is not None:
                rp = route.ramp
                print(
                    f"  ramp: {rp.model} {rp.from_pct:g}% → {rp.to_pct:g}% from "
                    f"{rp.start.isoformat()} to {rp.end.isoformat()}; now "
                    f"{ramp_pct(rp, now):.2f}%"
                )
            if route.guard is not None:
                text = guard_status(store, name, route, now).describe()
                print("  " + text.replace("\n", "\n  "))
            if route.shadow is not None:
                sh = route.shadow
                c = summarise_store(store, name, sh.model)
                print(
                    f"  shadow: {sh.model} at {sh.sample_pct:g}% (max {sh.max_concurrency} in "
                    f"flight): {c['pairs']} compared, {c['dropped']} dropped, "
                    f"{c['refused']} refused by policy, {c['refused_budget']} refused by budget, "
                    f"{c['shadow_errors']} failed"
                )
    finally:
        store.close()
    return 0


@store_errors()
def _resume(args: argparse.Namespace) -> int:
    from ..migration import resume, tripped_arms

    cfg = load_file(args.config)
    route = _routes(cfg, args.route, "guard")[args.route]
    if route.guard is None:
        raise ConfigError(f"route {args.route!r} has no guard", key=f"routes.{args.route}")
    model = args.model or route.guard.model
    if model != route.guard.model:
        raise ConfigError(
            f"route {args.route!r} guards {route.guard.model!r}, not {model!r}",
            key=f"routes.{args.route}.guard.model",
        )
    _memory_warning(cfg)
    store = _state.open_store(cfg.state)
    try:
        reason = tripped_arms(store, args.route, route).get(model)
        resume(store, args.route, model)
    finally:
        store.close()
    if reason is None:
        print(f"{model} on route {args.route} was not rolled back; statistics restarted")
    else:
        print(f"re-armed {model} on route {args.route} (was rolled back: {reason})")
    return 0


@store_errors()
def _report(args: argparse.Namespace) -> int:
    from ..accounting.ledger import read_ledger
    from ..accounting.report import SpendCube
    from ..migration import guard_events, guard_status, summarise_store
    from ..migration.report import RouteEvidence, arm_shares, guard_days, shadow_distributions

    cfg = load_file(args.config)
    routes = _routes(cfg, args.route, "split", "shadow")
    if cfg.state == "memory" and not any(r.shadow and r.shadow.log for r in routes.values()):
        _memory_warning(cfg)
    evidence = []
    store = _state.open_store(cfg.state)
    try:
        # The ledger only when a split needs it; aggregated at once, never kept.
        splits = any(r.split for r in routes.values())
        cube = SpendCube(read_ledger(store), ("route", "traffic")) if splits else None
        now = time.time()
        for name, route in routes.items():
            ev = RouteEvidence(name, route)
            if route.split and cube is not None:
                ev.shares = arm_shares(cube, name, route)
            if route.guard is not None:
                g = route.guard
                ev.guard = guard_status(store, name, route, now)
                ev.events = guard_events(store, name, g.model)
                if ev.shares is not None and ev.shares.days:
                    ev.guard_days = guard_days(store, name, (g.model, g.baseline), ev.shares.days)
            sh = route.shadow
            if sh is not None:
                ev.shadow["store"] = summarise_store(store, name, sh.model)
                if sh.log:
                    ev.shadow["log"] = {"path": sh.log, **_read_log(sh.log, name)}
                    if args.html:
                        ev.distributions = shadow_distributions(sh.log, name)
            evidence.append(ev)
    finally:
        store.close()
    if args.html:
        from ..reports.migration import migration_page
        from ._args import write_output

        write_output(args.html, migration_page(evidence, config=args.config), "--html")
        return 0
    if args.json:
        print(json.dumps({ev.name: _json(ev) for ev in evidence}, indent=2, sort_keys=True))
        return 0
    if not evidence:
        print("no route has a split or a shadow")
    for ev in evidence:
        print(_text(ev))
    return 0


def _read_log(path: str, route: str) -> dict[str, Any]:
    from ..migration import summarise_log

    try:
        return summarise_log(path, route)
    except (OSError, UnicodeDecodeError) as err:
        why = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else err.strerror
        raise ConfigError(
            f"cannot read the shadow log: {why}", file=path, key=f"routes.{route}.shadow.log"
        ) from None


def _json(ev: RouteEvidence) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sh = ev.route.shadow
    if sh is not None:
        out.update(shadow=sh.model, sample_pct=sh.sample_pct, **ev.shadow)
    if ev.shares is not None:
        a = ev.shares
        out["traffic"] = {
            "days": list(a.days),
            "requests": {k: list(v) for k, v in a.requests.items()},
            "scheduled_pct": {k: list(v) for k, v in a.scheduled.items()},
        }
    if ev.guard_days and ev.shares is not None:
        out["guard_days"] = {
            arm: [
                {"day": d, "calls": w.samples, "errors": w.errors, "p95_ms": w.p95_ms}
                for d, w in zip(ev.shares.days, ws, strict=True)
            ]
            for arm, ws in ev.guard_days.items()
        }
    if ev.route.guard is not None:
        out["guard_events"] = [
            {"at": e.at, "kind": e.kind, "model": e.model, "reason": e.reason} for e in ev.events
        ]
    return out


def _text(ev: RouteEvidence) -> str:
    from ..accounting.report import text_table
    from ..migration.report import events_table, guard_days_table, shares_table, window_table

    lines = []
    if ev.shares is not None:
        arms = ", ".join(a.model for a in ev.route.split or ())
        lines.append(f"route {ev.name}: split {arms}")
        if ev.shares.days:
            lines.append(
                "  traffic per day by arm (ledger; scheduled = split and ramp at 12:00 UTC)"
            )
            lines.extend("    " + x for x in text_table(*shares_table(ev.shares)))
        else:
            lines.append("  no ledger records for this route")
    if ev.guard is not None:
        head, state = ev.guard.describe().splitlines()[:2]
        lines.append(f"  {head}\n  {state}")
        lines.extend("    " + x for x in text_table(*window_table(ev.guard)))
        if ev.guard_days and ev.shares is not None:
            lines.append("  guarded arms per day (every attempt the guard counted)")
            table = guard_days_table(ev.shares.days, ev.guard_days)
            lines.extend("    " + x for x in text_table(*table))
        if ev.events:
            lines.append("  guard events")
            lines.extend("    " + x for x in text_table(*events_table(ev.events)))
    sh = ev.route.shadow
    if sh is not None:
        lines.append(f"route {ev.name}: shadow {sh.model} at {sh.sample_pct:g}%")
        for source in ("store", "log"):
            if source in ev.shadow:
                where = f" ({ev.shadow['log']['path']})" if source == "log" else ""
                lines.append(f"  from the {source}{where}")
                lines.append("    " + _summary_text(ev.shadow[source]).replace("\n", "\n    "))
    return "\n".join(lines)


def _summary_text(s: dict[str, Any]) -> str:
    from ..migration.compare import COUNTERS, summary_cells

    counts, sides = summary_cells(s)
    head = dict(counts)
    names = {k.replace("_", " ") for k in (*COUNTERS, "unreadable_lines")}
    events = ", ".join(f"{v} {k}" for k, v in counts[1:] if k in names)
    lines = [f"{head['pairs compared']} pairs compared" + (f"; {events}" if events else "")]
    if s["pairs"]:
        lines.append(
            f"exact match {head['exact match']}, mean similarity {head['mean similarity']}, "
            f"same finish reason {head['same finish reason']}"
        )
        side = {row[0]: row[1:] for row in sides}
        lat, cost = side["latency (mean)"], side["cost (total)"]
        tok, chars = side["tokens (mean)"], side["output chars (mean)"]
        lines.append(f"latency primary {lat[0]} vs shadow {lat[1]} (mean)")
        lines.append(
            f"cost primary {cost[0]} vs shadow {cost[1]} (total); tokens {tok[0]} vs {tok[1]}; "
            f"output chars {chars[0]} vs {chars[1]} (mean)"
        )
    return "\n".join(lines)
