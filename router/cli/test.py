"""``llm-router test CONFIG TESTS.yaml``: run policy tests, report like pytest."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..policy import Policy
    from ..policy.testing import CaseResult

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``test`` subcommand."""
    p = sub.add_parser("test", help="run policy tests (requests and the decisions they must get)")
    p.add_argument("config", help="config file (YAML)")
    p.add_argument("tests", nargs="+", help="tests file(s) (YAML)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``test``: 0 when every case passes, 1 otherwise."""
    from ..config.loader import load_policy

    t0 = time.perf_counter()
    _, policy = load_policy(args.config)
    passed = failed = 0
    failures: list[tuple[str, str, list[str], str]] = []
    for path in args.tests:
        results = _run_file(policy, path)
        marks = "".join("." if r.passed else "F" for r in results)
        if not args.verbose:
            print(f"{path} {marks}")
        for r in results:
            if args.verbose:
                print(f"{path}::{r.name} {'PASSED' if r.passed else 'FAILED'}")
            if r.passed:
                passed += 1
            else:
                failed += 1
                explain = r.decision.explain() if r.decision is not None else ""
                failures.append((path, r.name, r.failures, explain))
    for path, name, msgs, explain in failures:
        print(f"\n___ {path}::{name} ___")
        for m in msgs:
            print(f"E   {m}")
        if explain:
            print("\n" + "\n".join("    " + line for line in explain.splitlines()))
    elapsed = time.perf_counter() - t0
    summary = ", ".join(
        s for s in (f"{failed} failed" if failed else "", f"{passed} passed" if passed else "") if s
    )
    print(f"\n{'=' * 20} {summary or 'no tests'} in {elapsed:.2f}s {'=' * 20}")
    sys.stdout.flush()
    return 1 if failed or not passed else 0


def _run_file(policy: Policy, path: str) -> list[CaseResult]:
    """Every case of a tests file; a file that cannot be read, or a case too
    malformed to run, is a :class:`ConfigError` naming the file (and case)."""
    from ..config.loader import read_text
    from ..errors import ConfigError
    from ..policy.testing import load_cases, run_case

    read_text(path, "tests")  # unreadable or not UTF-8: say so, naming the file
    results = []
    for i, case in enumerate(load_cases(path)):
        try:
            results.append(run_case(policy, case, i))
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            raise ConfigError(
                f"malformed case {case.get('name') or i!r}: {type(e).__name__}: {e}",
                file=path,
                key=f"tests.{i}",
            ) from None
    return results
