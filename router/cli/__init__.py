"""The ``llm-router`` command line.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``;
the parser it adds carries a ``func`` default that runs it and returns the
exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

__all__ = ["main"]

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("chat", "validate", "explain", "test", "models", "report", "audit", "migration")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="llm-router",
        description="Route chat requests to local, hosted and frontier LLMs by policy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        import_module(f".{name}", __name__).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    from ..errors import RouterError

    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except RouterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
