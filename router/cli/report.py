"""``llm-router report``: where the money went, and what self-hosting would cost.

Reads the ledger from the config's state store (or ``--state URL``) and/or
JSON-lines files (exported ledgers or the telemetry audit log), and prints
spend by tenant, route, model, zone and day — and by traffic (primary vs
shadow copies) when shadows spent anything — then the shift report.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._args import positive_int, store_errors

if TYPE_CHECKING:
    from ..accounting.ledger import LedgerRecord
    from ..accounting.report import ShiftReport, SpendCube
    from ..config import Config

__all__ = ["add_parser"]

_DEFAULT_BY = "tenant,route,model,zone,day"


def add_parser(sub: Any) -> None:
    """Register the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="spend by tenant/route/model/zone/day and the self-hosting shift report",
        description=(
            "Aggregate the spend ledger. Records come from the state store named by the "
            "config's `state:` (or --state), and from --jsonl files (exported ledgers or "
            "telemetry audit logs)."
        ),
    )
    p.add_argument("--config", "-c", help="router config (for its state store and targets)")
    p.add_argument("--state", help="state store URL, overriding the config's (sqlite:///…)")
    p.add_argument(
        "--jsonl",
        action="append",
        default=[],
        metavar="FILE",
        help="ledger or audit-log records, one JSON per line",
    )
    p.add_argument("--since", help="first day to include (YYYY-MM-DD, UTC)")
    p.add_argument("--until", help="last day to include (YYYY-MM-DD, UTC)")
    p.add_argument("--tenant", help="only this tenant's records")
    p.add_argument(
        "--by", default=_DEFAULT_BY, help=f"dimensions, comma-separated (default {_DEFAULT_BY})"
    )
    p.add_argument(
        "--days", type=positive_int, help="days the traffic spans (default: from the records)"
    )
    p.add_argument("--no-shift", action="store_true", help="leave out the shift report")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument("--records", action="store_true", help="print the raw records as JSON lines")
    out.add_argument(
        "--html",
        metavar="FILE",
        help="write the report as one self-contained HTML page with charts (no network needed)",
    )
    p.set_defaults(func=run)


def _day(text: str | None, option: str, *, end: bool = False) -> float | None:
    from ..errors import ConfigError

    if text is None:
        return None
    try:
        d = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date (YYYY-MM-DD)", key=option) from None
    return (d + timedelta(days=1)).timestamp() if end else d.timestamp()


# What each field of a ledger record must hold, by its annotation.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "float": (int, float),
    "float | None": (int, float, type(None)),
    "int": (int,),
    "str": (str,),
    "str | None": (str, type(None)),
    "bool": (bool,),
}


@functools.cache
def _field_checks() -> tuple[tuple[str, tuple[type, ...] | None], ...]:
    """(field, accepted types) for every field of a ledger record; None: a tuple of str."""
    from ..accounting.ledger import LedgerRecord

    out: list[tuple[str, tuple[type, ...] | None]] = []
    for f in fields(LedgerRecord):
        if f.name == "budgets":
            out.append((f.name, None))
        elif (want := _FIELD_TYPES.get(str(f.type))) is not None:
            out.append((f.name, want))
    return tuple(out)


def _check_record(rec: LedgerRecord) -> None:
    """ValueError naming the first field a JSON line gave the wrong type."""
    # Worked out once per process: a million-line ledger runs this a million times.
    for name, want in _field_checks():
        value = getattr(rec, name)
        if want is None:
            ok = all(isinstance(b, str) for b in value)
        else:
            ok = isinstance(value, want) and not (bool not in want and isinstance(value, bool))
        if not ok:
            raise ValueError(f"field {name!r} has the wrong type ({type(value).__name__})")
        # JSON lets NaN and Infinity through; no time, count or price is either.
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"field {name!r} is not a finite number ({value})")


def run(args: argparse.Namespace) -> int:
    """Execute ``report``."""
    from ..accounting.ledger import parse_record, read_ledger
    from ..accounting.report import (
        DIMENSIONS,
        SpendCube,
        format_shift,
        format_spend,
        shift_report,
    )
    from ..config import load_file
    from ..config.loader import read_text
    from ..errors import ConfigError
    from ..state import open_store
    from ..targets import resolve_targets

    since, until = _day(args.since, "--since"), _day(args.until, "--until", end=True)
    dims = [d.strip() for d in args.by.split(",") if d.strip()]
    if not dims:
        raise ConfigError(f"name at least one dimension: {', '.join(DIMENSIONS)}", key="--by")
    for d in dims:
        if d not in DIMENSIONS:
            raise ConfigError(f"unknown dimension {d!r}; use {', '.join(DIMENSIONS)}", key="--by")
    config = load_file(args.config) if args.config else None
    state = args.state or (config.state if config else None)
    if state is None and not args.jsonl:
        raise ConfigError("give --config, --state or --jsonl to say where the ledger is")
    records: list[LedgerRecord] = []
    if state is not None:
        if state == "memory":
            raise ConfigError(
                "state: memory keeps the ledger inside the router process; use sqlite or "
                "redis to report on it from here",
                key="state",
            )
        with store_errors():
            store = open_store(state)
            try:
                records.extend(read_ledger(store, since, until))
            finally:
                store.close()
    for path in args.jsonl:
        for n, line in enumerate(read_text(path, "records").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = parse_record(json.loads(line))
                if rec is not None:
                    _check_record(rec)
            except (ValueError, TypeError, KeyError, RecursionError) as e:
                why = "nested too deeply" if isinstance(e, RecursionError) else e
                raise ConfigError(
                    f"not a ledger or audit record: {why}", file=path, line=n
                ) from None
            if rec is None:
                continue  # an audit record without spend (denied, failed)
            if (since is None or rec.ts >= since) and (until is None or rec.ts < until):
                records.append(rec)
    if args.tenant is not None:
        records = [r for r in records if r.tenant == args.tenant]
    records.sort(key=lambda r: r.ts)
    if "traffic" not in dims and any(r.shadow_of or r.cache == "hit" for r in records):
        dims.append("traffic")  # shadow spend is real spend, cache hits none: show them apart
    if args.records:
        for r in records:
            print(r.to_json())
        return 0
    shift = None
    if not args.no_shift and config is not None:
        shift = shift_report(records, resolve_targets(config), days=args.days)
    cube = SpendCube(records, dims)  # every spend table below rolls up these cells
    if args.html:
        _write_html(args, config, cube, dims, shift, len(records))
        return 0
    if args.json:
        out: dict[str, Any] = {
            "records": len(records),
            "spend": {d: [asdict(r) for r in cube.by(d)] for d in dims},
        }
        if shift is not None:
            out["shift"] = asdict(shift)
        print(json.dumps(out, indent=2))
        return 0
    if not records:
        print("no ledger records in that range")
    parts = [format_spend(d, cube.by(d)) for d in dims] if records else []
    if shift is not None:
        parts.append(format_shift(shift))
    print("\n\n".join(parts))
    return 0


def _write_html(
    args: argparse.Namespace,
    config: Config | None,
    cube: SpendCube,
    dims: list[str],
    shift: ShiftReport | None,
    count: int,
) -> None:
    from ..reports.spend import DailyBudget, spend_page
    from ._args import write_output

    budgets = []
    for rule in config.rules if config is not None else ():
        b = rule.budget
        if b is not None and b.per == "day":
            budgets.append(DailyBudget(b.name or rule.name, b.usd, b.key))
    days = cube.by("day")
    meta = [f"{count:,} ledger records"]
    if days:
        meta[0] += f", {days[0].key} to {days[-1].key} (UTC)"
    if args.tenant is not None:
        meta.append(f"tenant {args.tenant} only")
    why = ""
    if shift is None:
        why = (
            "Left out (--no-shift)."
            if args.no_shift
            else "Give --config: the self-hosted targets' cost: {gpu_hour_usd, "
            "tokens_per_second} prices the break-even."
        )
    html = spend_page(cube, dims, shift=shift, budgets=budgets, meta=meta, no_shift=why)
    write_output(args.html, html, "--html")
