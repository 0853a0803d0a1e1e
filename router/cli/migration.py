"""``llm-router migration``: see splits, ramps and guards; re-arm a guard; report shadows."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .. import state as _state
from ..config import Config, load_file
from ..config.schema import RouteConfig
from ..errors import ConfigError, UnknownRoute
from ._args import store_errors

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

    rep = acts.add_parser("report", help="summarise shadow comparisons")
    rep.add_argument("config", help="config file")
    rep.add_argument("--route", help="only this route")
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.set_defaults(func=_report)


def _routes(cfg: Config, only: str | None, need: str) -> dict[str, RouteConfig]:
    if only is not None:
        if only not in cfg.routes:
            raise UnknownRoute(f"no route named {only!r}; routes: {', '.join(sorted(cfg.routes))}")
        return {only: cfg.routes[only]}
    return {n: r for n, r in cfg.routes.items() if getattr(r, need)}


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
    from ..migration import summarise_log, summarise_store

    cfg = load_file(args.config)
    routes = _routes(cfg, args.route, "shadow")
    out: dict[str, Any] = {}
    if cfg.state == "memory" and not any(r.shadow and r.shadow.log for r in routes.values()):
        _memory_warning(cfg)
    store = _state.open_store(cfg.state)
    try:
        for name, route in routes.items():
            sh = route.shadow
            if sh is None:
                continue
            entry: dict[str, Any] = {"shadow": sh.model, "sample_pct": sh.sample_pct}
            entry["store"] = summarise_store(store, name, sh.model)
            if sh.log:
                try:
                    entry["log"] = {"path": sh.log, **summarise_log(sh.log, name)}
                except (OSError, UnicodeDecodeError) as err:
                    why = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else err.strerror
                    raise ConfigError(
                        f"cannot read the shadow log: {why}",
                        file=sh.log,
                        key=f"routes.{name}.shadow.log",
                    ) from None
            out[name] = entry
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    if not out:
        print("no route has a shadow")
    for name, e in out.items():
        print(f"route {name}: shadow {e['shadow']} at {e['sample_pct']:g}%")
        for source in ("store", "log"):
            if source in e:
                print(
                    f"  from the {source}" + (f" ({e['log']['path']})" if source == "log" else "")
                )
                print("    " + _summary_text(e[source]).replace("\n", "\n    "))
    return 0


def _summary_text(s: dict[str, Any]) -> str:
    from ..migration.compare import COUNTERS

    lines = []
    counters = [f"{s[k]} {k.replace('_', ' ')}" for k in COUNTERS if k in s]
    lines.append(f"{s['pairs']} pairs compared" + ("; " + ", ".join(counters) if counters else ""))
    if s["pairs"]:
        lines.append(
            f"exact match {s['exact_match_pct']:.1f}%, "
            f"mean similarity {s['mean_similarity']:.3f}, "
            f"same finish reason {s['finish_reason_agreement_pct']:.1f}%"
        )
        lines.append(
            f"latency primary {s['primary_mean_latency_s'] * 1000:.0f}ms vs shadow "
            f"{s['shadow_mean_latency_s'] * 1000:.0f}ms (mean)"
        )
        lines.append(
            f"cost primary ${s['primary_cost_usd']:.6f} vs shadow ${s['shadow_cost_usd']:.6f} "
            f"(total); tokens {s['primary_mean_tokens']:.0f} vs {s['shadow_mean_tokens']:.0f}; "
            f"output chars {s['primary_mean_chars']:.0f} vs {s['shadow_mean_chars']:.0f} (mean)"
        )
    return "\n".join(lines)
