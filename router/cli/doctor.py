"""``llm-router doctor CONFIG``: does every target answer? (No tokens spent.)"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from ._args import non_negative_float

__all__ = ["add_parser"]

_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}$")


def add_parser(sub: Any) -> None:
    """Register the ``doctor`` subcommand."""
    p = sub.add_parser(
        "doctor",
        help="check that every provider answers, keys work and models exist (no tokens spent)",
    )
    p.add_argument("config", help="config file (YAML)")
    p.add_argument("--json", action="store_true", help="print the checks as one JSON document")
    p.add_argument(
        "--timeout",
        type=non_negative_float,
        default=5.0,
        help="seconds to wait for each provider (default: 5)",
    )
    p.set_defaults(func=run)


def _key_names(path: str) -> dict[str, str]:
    """Per provider, the variable its ``api_key: ${VAR}`` reads (from the raw file)."""
    from ..config.loader import parse_yaml, read_text

    data, _ = parse_yaml(read_text(path), path)
    out: dict[str, str] = {}
    providers = data.get("providers") if isinstance(data, dict) else None
    for name, p in (providers or {}).items():
        key = p.get("api_key") if isinstance(p, dict) else None
        m = _VAR.match(key) if isinstance(key, str) else None
        if m:
            out[str(name)] = m.group(1)
    return out


def run(args: argparse.Namespace) -> int:
    """Execute ``doctor``: 0 all a route needs works, 1 something broken, 2 unusable config."""
    from ..config.loader import load_file
    from ..onboarding.doctor import doctor, exit_status

    config = load_file(args.config)
    checks = doctor(config, key_names=_key_names(args.config), timeout_s=args.timeout or 5.0)
    status = exit_status(checks)
    if args.json:
        doc = {"ok": status == 0, "checks": [c.as_dict() for c in checks]}
        print(json.dumps(doc, indent=2))
        return status
    for c in checks:
        print(c.line())
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    verdict = "ready" if status == 0 else "something a route needs is broken"
    print(f"{len(checks)} checks: {failed} failed, {warned} warning(s): {verdict}")
    return status
