"""``llm-router audit verify``: check an audit log's hash chain and its records against a policy."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``audit`` subcommand."""
    p = sub.add_parser("audit", help="verify an audit log against a policy")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    v = asub.add_parser(
        "verify",
        help="check the hash chain and re-check every record against the policy",
        description=(
            "Exit status: 0 when the chain is intact and no record breaks the policy, "
            "1 when something was found, 2 on a usage or config error."
        ),
    )
    v.add_argument("log", help="the audit log (JSON lines)")
    v.add_argument("--config", "-c", help="the policy to re-check against (chain only without it)")
    v.add_argument(
        "--expect-head",
        metavar="HASH",
        help="the last record's hash noted earlier; detects lines removed from the end",
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Execute ``audit verify``."""
    from ..config import load_file
    from ..telemetry.audit import verify_log

    config = load_file(args.config) if args.config else None
    try:
        report = verify_log(args.log, config, expect_head=args.expect_head)
    except OSError as e:
        print(f"error: cannot read {args.log}: {e.strerror}")
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "records": report.records,
                    "head": report.head,
                    "findings": [
                        {"line": f.line, "kind": f.kind, "message": f.message}
                        for f in report.findings
                    ],
                    "unchecked_rules": report.unchecked_rules,
                },
                indent=2,
            )
        )
        return 0 if report.ok else 1
    for f in report.findings:
        print(f)
    for rule, why in report.unchecked_rules.items():
        print(f"note: rule {rule!r} not re-checked: {why}")
    if config is None:
        print("note: no --config given: only the hash chain was checked")
    status = "OK" if report.ok else "FAILED"
    chain = sum(f.kind == "chain" for f in report.findings)
    violations = sum(f.kind == "violation" for f in report.findings)
    print(
        f"{status}: {report.records} record(s), {chain} chain problem(s), "
        f"{violations} policy violation(s); head {report.head}"
    )
    return 0 if report.ok else 1
