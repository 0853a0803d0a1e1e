"""``llm-router validate CONFIG``: schema errors with file:line:key, then lint warnings."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``validate`` subcommand."""
    p = sub.add_parser("validate", help="check a config: errors (file:line:key) and lint warnings")
    p.add_argument("config", help="config file (YAML)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``validate``: 0 clean, 1 errors (or warnings with --strict)."""
    from ..config import load_file
    from ..errors import ConfigError
    from ..policy import Policy
    from ..policy.lint import lint

    try:
        config = load_file(args.config)
        policy = Policy(config)
    except ConfigError as e:
        problems = e.problems or [e]
        for p in problems:
            if p.file is None:
                p.file = args.config
            if p.line is None and p.key:
                p.line = _line_of(args.config, p.key)
            print(f"error: {p._render()}", file=sys.stderr)
        print(f"{args.config}: {len(problems)} error(s)", file=sys.stderr)
        return 1
    warnings = lint(config, policy)
    for w in warnings:
        print(f"warning: {args.config}: {w}", file=sys.stderr)
    print(
        f"{args.config}: ok ({len(config.models)} models, {len(config.rules)} rules, "
        f"{len(config.routes)} routes, {len(warnings)} warning(s))"
    )
    return 1 if args.strict and warnings else 0


def _line_of(path: str, key: str) -> int | None:
    """The line of a dotted key such as ``rules.<name>.when`` (rules are named, not indexed)."""
    from pathlib import Path

    from ..config.loader import parse_yaml

    try:
        data, lines = parse_yaml(Path(path).read_text(encoding="utf-8"), path)
    except Exception:  # the schema already loaded; a second parse cannot add information
        return None
    parts: list[str | int] = []
    for part in key.split("."):
        parts.append(int(part) if part.isdigit() else part)
    if len(parts) >= 2 and parts[0] == "rules" and isinstance(data, dict):
        names = [r.get("name") if isinstance(r, dict) else None for r in data.get("rules") or []]
        if parts[1] in names:
            parts[1] = names.index(parts[1])
    return lines.find(tuple(parts))
