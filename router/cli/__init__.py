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
from typing import NoReturn

__all__ = ["main"]

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "init",
    "doctor",
    "chat",
    "validate",
    "explain",
    "test",
    "models",
    "report",
    "audit",
    "migration",
    "serve",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (status 2), without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = _Parser(
        prog="llm-router",
        description="Route chat requests to local, hosted and frontier LLMs by policy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        import_module(f".{name}", __name__).add_parser(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _describe(e: BaseException) -> str:
    """What went wrong, in one line (a config's first problem and how many more)."""
    from ..errors import ConfigError

    if isinstance(e, ConfigError) and len(e.problems) > 1:
        more = len(e.problems) - 1
        first = _one_line(e.problems[0]._render())
        return f"{first} (and {more} more problem(s): llm-router validate lists them all)"
    return _one_line(str(e))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status.

    A usage error, a config error or a file that cannot be read is one line
    on stderr and status 2; Ctrl-C is status 130.
    """
    from ..errors import ProviderError, RouterError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error, already printed (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        status: int = args.func(args)
    except ProviderError as e:
        # A provider's own text may carry instructions over several lines.
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RouterError as e:
        print(f"error: {_describe(e)}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:
        print(f"error: not UTF-8 text: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        # Files a subcommand reads itself (each should name them as ConfigError first).
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or _one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
