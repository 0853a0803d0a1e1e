"""Names a package imports from its submodules on first use (PEP 562).

A package whose ``__init__`` re-exports many names would otherwise load every
submodule (their dataclasses, patterns and imports) at ``import router``; with
this, a name's module loads when the name is first read, and start-up stays
short.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name in ``homes`` is read from
    the submodule ``homes[name]`` on first use and kept in the package's globals."""

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
