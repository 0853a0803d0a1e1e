"""``llm-router models``: list the bundled catalog (or a config's models)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``models`` subcommand."""
    p = sub.add_parser("models", help="list catalog models: licence, openness, origin, prices")
    p.add_argument("--openness", action="append", help="closed, open_weights_restricted, ...")
    p.add_argument("--license", action="append", help="licence id, e.g. apache-2.0 or mit")
    p.add_argument("--zone", action="append", help="with --config: only targets in this zone")
    p.add_argument("--family", action="append", help="model family, e.g. llama or qwen")
    p.add_argument("--config", "-c", help="list this config's resolved targets instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _keep(value: str | None, wanted: list[str] | None) -> bool:
    return not wanted or (value is not None and value.casefold() in {w.casefold() for w in wanted})


def run(args: argparse.Namespace) -> int:
    """Execute ``models``."""
    rows: list[dict[str, Any]] = []
    if args.config:
        from ..config.loader import load_policy

        for t in load_policy(args.config)[1].targets.values():
            rows.append(
                {
                    "name": t.name,
                    "model": t.model_id,
                    "provider": t.provider,
                    "zone": t.zone,
                    "region": t.region,
                    "license": t.license,
                    "openness": t.openness,
                    "origin": t.origin,
                    "context": t.context_window,
                    "price": f"{t.price.input:g}/{t.price.output:g}" if t.price else "",
                }
            )
    else:
        from ..catalog import load_catalog
        from ..providers.presets import NATIVE, PRESETS

        def zone_of(kind: str) -> str | None:
            known = PRESETS.get(kind) or NATIVE.get(kind)
            if known is not None:
                return known.zone
            return "local" if kind == "huggingface" else None

        for key, e in load_catalog().items():
            if e.offering is None and e.offerings and not args.zone:
                rows.append(
                    {
                        "name": key,
                        "family": e.family,
                        "license": e.get("license"),
                        "openness": e.get("openness"),
                        "origin": e.get("origin"),
                        "context": e.get("context_window"),
                        "offered_by": ",".join(o.provider for o in e.offerings),
                    }
                )
            elif e.offering is not None and args.zone:
                z = zone_of(e.offering.provider)
                if _keep(z, args.zone):
                    p = e.offering.price
                    rows.append(
                        {
                            "name": key,
                            "family": e.family,
                            "license": e.get("license"),
                            "openness": e.get("openness"),
                            "origin": e.get("origin"),
                            "zone": z,
                            "model": e.offering.model,
                            "price": f"{p['input']:g}/{p['output']:g} ({p.get('as_of')})"
                            if p
                            else "",
                        }
                    )
    rows = [
        r
        for r in rows
        if _keep(r.get("openness"), args.openness)
        and _keep(r.get("license"), args.license)
        and _keep(r.get("family"), args.family)
        and (not args.config or _keep(r.get("zone"), args.zone))
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no models match")
        return 0
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c) or "")) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(str(r.get(c) or "").ljust(widths[c]) for c in cols).rstrip())
    return 0
