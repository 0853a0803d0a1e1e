"""Argument types and file readers shared by the subcommands.

A bad value ends in argparse's one-line error (status 2); a file that cannot
be read or parsed ends in a :class:`ConfigError` naming it, which ``main``
prints as one line (status 2) too.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "finite_float",
    "key_value",
    "non_negative_float",
    "positive_int",
    "read_json",
    "store_errors",
    "write_output",
]


def positive_int(text: str) -> int:
    """An integer > 0 (``--max-tokens``, ``--days``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def finite_float(text: str) -> float:
    """A number that is neither NaN nor infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (``--max-cost``, ``--min-quality``)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def key_value(text: str) -> tuple[str, str]:
    """``K=V`` with a non-empty ``K`` (``--meta``); the value may hold ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def read_json(path: str, what: str) -> Any:
    """The JSON document in ``path``; :class:`ConfigError` naming file and line if not."""
    from ..config.loader import read_text
    from ..errors import ConfigError

    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"not valid JSON: {e.msg}", file=path, line=e.lineno) from None
    except RecursionError:
        raise ConfigError("JSON nested too deeply", file=path) from None


# The libraries behind the state stores; their errors mean "cannot use the store".
_STORE_LIBRARIES = frozenset({"sqlite3", "redis"})


@contextmanager
def store_errors() -> Iterator[None]:
    """A state store that cannot be opened or reached becomes a :class:`ConfigError`
    (key ``state``), which ``main`` prints as one line; the URL is not repeated
    (it may carry a password)."""
    from ..errors import ConfigError

    try:
        yield
    except Exception as e:
        if type(e).__module__.partition(".")[0] not in _STORE_LIBRARIES:
            raise
        raise ConfigError(
            f"cannot use the state store: {type(e).__name__}: {e}", key="state"
        ) from None


def write_output(path: str, text: str, option: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) and say so on stderr; :class:`ConfigError` if not."""
    import sys
    from pathlib import Path

    from ..errors import ConfigError

    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write the report: {e.strerror}", file=path, key=option) from None
    print(f"wrote {path} ({len(text.encode()):,} bytes)", file=sys.stderr)
