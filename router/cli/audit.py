"""``llm-router audit verify``: check an audit log's lines, chain and MACs, and its records
against a policy."""

from __future__ import annotations

import argparse
import json
import os
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
    v.add_argument(
        "--config",
        "-c",
        help="the policy to re-check against (chain only without it); "
        "its telemetry.audit_key, if set, checks the MACs",
    )
    v.add_argument(
        "--key-env",
        metavar="VAR",
        help="environment variable holding the audit key (telemetry.audit_key); "
        "without a key the MACs of a log are not checked",
    )
    v.add_argument(
        "--expect-head",
        metavar="HASH",
        help="a record hash noted earlier; it must be in the chain (detects lines removed "
        "from the end)",
    )
    v.add_argument(
        "--expect-seq",
        metavar="N",
        type=int,
        help="a sequence number noted earlier; the log must reach it (detects lines removed "
        "from the end)",
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Execute ``audit verify``."""
    from ..config import load_file
    from ..telemetry.audit import verify_log

    config = load_file(args.config) if args.config else None
    key: str | None = None
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            print(f"error: environment variable {args.key_env} is not set or empty")
            return 2
    elif config is not None and config.telemetry.audit_key is not None:
        key = config.telemetry.audit_key.get_secret_value()
    try:
        report = verify_log(
            args.log, config, expect_head=args.expect_head, expect_seq=args.expect_seq, key=key
        )
    except OSError as e:
        print(f"error: cannot read {args.log}: {e.strerror}")
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "authenticated": report.authenticated,
                    "records": report.records,
                    "head": report.head,
                    "seq": report.seq,
                    "macs": report.macs,
                    "keyed": report.keyed,
                    "findings": [
                        {"line": f.line, "kind": f.kind, "message": f.message}
                        for f in report.findings
                    ],
                    "notes": report.notes,
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
        print("note: no --config given: the policy was not re-checked")
    for n in report.notes:
        print(f"warning: {n}")
    status = "OK" if report.ok else "FAILED"
    chain = sum(f.kind == "chain" for f in report.findings)
    violations = sum(f.kind == "violation" for f in report.findings)
    integrity = (
        "MACs verified"
        if report.authenticated
        else "MACs checked"
        if report.keyed
        else "structure and hash chain only (no key)"
    )
    print(
        f"{status}: {report.records} record(s), {chain} chain problem(s), "
        f"{violations} policy violation(s); {integrity}; head {report.head} at seq {report.seq}"
    )
    return 0 if report.ok else 1
