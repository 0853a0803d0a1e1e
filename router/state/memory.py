"""The in-process state store (the default): one dict behind one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .base import StateStore

__all__ = ["MemoryStore"]


class MemoryStore(StateStore):
    """State shared by the routers of one process; lost when it exits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> tuple[str, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    def _expiry(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._clock() + ttl_s

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._live(key)
            return None if item is None else item[0]

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        with self._lock:
            self._data[key] = (value, self._expiry(ttl_s))

    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._expiry(ttl_s))
            return True

    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        with self._lock:
            item = self._live(key)
            if item is None:
                total, expiry = amount, self._expiry(ttl_s)
            else:
                total, expiry = float(item[0]) + amount, item[1]
            self._data[key] = (repr(total), expiry)
            return total

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)
