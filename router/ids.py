"""Unique ids for requests and budget holds, cheaper than ``uuid4`` on the hot path.

An id is a random per-process prefix and a counter: 32 hex digits, unique
across the processes sharing a state store (a forked child draws a new
prefix). Ids are hashed wherever they pick something (splits, decision ids),
so sequential counters do not skew any choice.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["new_id"]

_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


_reseed()
if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere processes are spawned, not forked
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """A new id: 16 random hex digits for this process, then a 16-digit counter."""
    return f"{_prefix}{next(_counter):016x}"
