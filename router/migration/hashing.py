"""Stable hashing of identifiers to points of the unit interval.

Every process on every host maps the same parts to the same number (no
``PYTHONHASHSEED`` dependence), so an assignment made by one router is the
assignment every other router makes.
"""

from __future__ import annotations

import hashlib

__all__ = ["unit"]

_SCALE = float(2**64)


def unit(*parts: str) -> float:
    """A uniform number in the open interval (0, 1) determined by ``parts``."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE
