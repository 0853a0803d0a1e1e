"""``llm-router models``: list the bundled catalog (or a config's models).

``--stale`` lists instead the catalog's facts and prices last checked more
than ``--months`` (6) months before today (UTC, or ``--today``). It exits 0
either way: staleness is a list to act on, not a failure (``--json`` prints
``[]`` when nothing is stale, for scripts that want to fail on it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._args import positive_int

if TYPE_CHECKING:
    from ..catalog import CatalogEntry

__all__ = ["add_parser"]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_parser(sub: Any) -> None:
    """Register the ``models`` subcommand."""
    p = sub.add_parser("models", help="list catalog models: licence, openness, origin, prices")
    p.add_argument("--openness", action="append", help="closed, open_weights_restricted, ...")
    p.add_argument("--license", action="append", help="licence id, e.g. apache-2.0 or mit")
    p.add_argument("--zone", action="append", help="with --config: only targets in this zone")
    p.add_argument("--family", action="append", help="model family, e.g. llama or qwen")
    p.add_argument("--config", "-c", help="list this config's resolved targets instead")
    p.add_argument(
        "--stale",
        action="store_true",
        help="list catalog entries and prices last checked more than --months months ago",
    )
    p.add_argument("--months", type=positive_int, help="with --stale: the age limit (default 6)")
    p.add_argument(
        "--today",
        type=_date,
        metavar="YYYY-MM-DD",
        help="with --stale: count from this date instead of today (UTC)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _keep(value: str | None, wanted: list[str] | None) -> bool:
    return not wanted or (value is not None and value.casefold() in {w.casefold() for w in wanted})


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _catalog() -> Mapping[str, CatalogEntry]:
    """The bundled catalog; a malformed data file is a one-line :class:`ConfigError`."""
    from ..catalog import CatalogError, load_catalog
    from ..errors import ConfigError

    try:
        return load_catalog()
    except CatalogError as e:
        raise ConfigError("; ".join(e.problems), file="router/catalog/models.yaml") from None


def _stale(args: argparse.Namespace) -> int:
    from ..catalog import stale_items
    from ..errors import ConfigError

    if args.config or args.zone:
        raise ConfigError("--stale lists the bundled catalog; it takes no --config or --zone")
    catalog = _catalog()
    today = args.today or _today()
    kept = [
        e
        for e in catalog.values()
        if e.offering is None
        and _keep(e.get("openness"), args.openness)
        and _keep(e.get("license"), args.license)
        and _keep(e.family, args.family)
    ]
    months = args.months or 6
    items = stale_items(kept, today, months)
    rows = [
        {
            "key": s.key,
            "what": s.what,
            "as_of": s.as_of,
            "age_months": s.age_months(today),
        }
        for s in items
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    checked = len(kept) + sum(1 for e in kept for o in e.offerings if o.price is not None)
    print(
        f"{len(rows)} of {checked} catalog facts and prices were last checked more than "
        f"{months} month(s) before {today.isoformat()}" + (":" if rows else ".")
    )
    if rows:
        _table(rows)
        print("Check them against their sources and update router/catalog/models.yaml.")
    return 0


def _table(rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c) or "")) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(str(r.get(c) or "").ljust(widths[c]) for c in cols).rstrip())


def run(args: argparse.Namespace) -> int:
    """Execute ``models``."""
    if args.stale:
        return _stale(args)
    if args.months is not None or args.today is not None:
        from ..errors import ConfigError

        raise ConfigError("--months and --today go with --stale")
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
        from ..providers.presets import NATIVE, PRESETS

        def zone_of(kind: str) -> str | None:
            known = PRESETS.get(kind) or NATIVE.get(kind)
            if known is not None:
                return known.zone
            return "local" if kind == "huggingface" else None

        for key, e in _catalog().items():
            if e.offering is None and e.offerings and not args.zone:
                rows.append(
                    {
                        "name": key,
                        "family": e.family,
                        "license": e.get("license"),
                        "openness": e.get("openness"),
                        "origin": e.get("origin"),
                        "context": e.get("context_window"),
                        "status": e.status,
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
    _table(rows)
    return 0
