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
    """Execute ``validate``: 0 clean, 1 errors (or warnings with --strict), 2 unreadable."""
    from ..config.loader import UnreadableConfig, load_policy
    from ..errors import ConfigError
    from ..policy.lint import lint

    try:
        config, policy = load_policy(args.config)
    except UnreadableConfig:
        raise  # not a config with errors: a usage error (one line, status 2)
    except ConfigError as e:
        problems = e.problems or [e]
        for p in problems:
            if p.file is None:
                p.file = args.config
            print(f"error: {p._render()}", file=sys.stderr)
        print(f"{args.config}: {len(problems)} error(s)", file=sys.stderr)
        return 1
    warnings = lint(config, policy)
    if any("embeddings" in t.capabilities for t in policy.targets.values()):
        from ..embeddings.adapters import config_warnings

        warnings += config_warnings(policy.targets)
    for w in warnings:
        print(f"warning: {args.config}: {w}", file=sys.stderr)
    print(
        f"{args.config}: ok ({len(config.models)} models, {len(config.rules)} rules, "
        f"{len(config.routes)} routes, {len(warnings)} warning(s))"
    )
    _national_ids(config)
    return 1 if args.strict and warnings else 0


def _national_ids(config: Any) -> None:
    """Which national identifiers each ``national_id`` detector finds, and which exist."""
    detectors = [d for d in config.sensitivity.detect or () if d.detector == "national_id"]
    if not detectors:
        return
    from ..policy.national_ids import SUPPORTED_COUNTRIES

    for d in detectors:
        codes = (
            sorted(c.lower() for c in d.countries) if d.countries else sorted(SUPPORTED_COUNTRIES)
        )
        print(f"  {d.name or 'national_id'} ({d.level}): {', '.join(codes)}")
    print(f"  national_id countries supported: {', '.join(sorted(SUPPORTED_COUNTRIES))}")
