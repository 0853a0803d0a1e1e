"""Per-arm outcome counters in time buckets, kept in the shared state store.

Only the store's atomic ``incr`` (with a TTL) and ``get`` are used, so the
same code runs on memory, sqlite and redis, and every process sharing the
store sees the same numbers. A window of ``window_s`` is split into
:data:`BUCKETS` buckets; a bucket's keys expire once it has left the window.
Latency is kept as a log-scale histogram (each bin 1.25 times wider than the last), so the p95 read
back is within about ±12% of the true value. Each sample also counts in a
coarse bin (7 fine bins wide), so reading a p95 costs about 90 ``get``s per
window rather than one per fine bin of every bucket.

Each sample also counts in its arm's UTC day (samples, errors, fine latency
bins; kept :data:`DAY_TTL_S`, across resumes), which the migration report
reads back as error rate and p95 per arm per day (:func:`read_day`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..state.base import StateStore
from ..state.program import Program, op, run

__all__ = [
    "BUCKETS",
    "DAY_TTL_S",
    "LATENCY_BINS",
    "Window",
    "latency_bin",
    "read_day",
    "read_window",
    "record",
]

BUCKETS = 6
LATENCY_BINS = 56
_COARSE = 7  # fine bins per coarse bin
_GROWTH = 1.25  # bin b (b >= 1) holds [1.25^(b-1), 1.25^b) ms; bin 0 holds < 1 ms
DAY_TTL_S = 120 * 86_400.0
"""How long an arm's daily counters are kept: a quarter's migration, with margin."""


@dataclass(frozen=True, slots=True)
class Window:
    """What one arm did over the last window."""

    samples: int
    errors: int
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        """Errors over samples (0 with no sample)."""
        return self.errors / self.samples if self.samples else 0.0


def latency_bin(ms: float) -> int:
    """The histogram bin of a latency in milliseconds."""
    if ms < 1.0:
        return 0
    return min(LATENCY_BINS - 1, int(math.log(ms) / math.log(_GROWTH)) + 1)


def _bin_value(b: int) -> float:
    # The geometric middle of the bin: at most ~12% off either edge.
    if b == 0:
        return 0.5
    return float(_GROWTH ** (b - 0.5))


def _prefix(route: str, arm: str, epoch: int, bucket: int) -> str:
    return f"mig:s:{route}:{arm}:{epoch}:{bucket}"


def record(
    store: StateStore,
    route: str,
    arm: str,
    epoch: int,
    *,
    ok: bool,
    latency_ms: float,
    now: float,
    window_s: float,
) -> int:
    """:func:`record_steps`, run on ``store``."""
    return run(
        record_steps(route, arm, epoch, ok=ok, latency_ms=latency_ms, now=now, window_s=window_s),
        store,
    )


def record_steps(
    route: str,
    arm: str,
    epoch: int,
    *,
    ok: bool,
    latency_ms: float,
    now: float,
    window_s: float,
) -> Program[int]:
    """Count one outcome; returns the samples in the current bucket so far (a store program)."""
    size = window_s / BUCKETS
    p = _prefix(route, arm, epoch, int(now // size))
    ttl = window_s + 2 * size
    n = yield op("incr", p + ":n", 1, ttl)
    if not ok:
        yield op("incr", p + ":e", 1, ttl)
    b = latency_bin(latency_ms)
    yield op("incr", f"{p}:c{b // _COARSE}", 1, ttl)
    yield op("incr", f"{p}:h{b}", 1, ttl)
    d = _day_prefix(route, arm, int(now // 86_400))
    yield op("incr", d + ":n", 1, DAY_TTL_S)
    if not ok:
        yield op("incr", d + ":e", 1, DAY_TTL_S)
    yield op("incr", f"{d}:h{b}", 1, DAY_TTL_S)
    return int(n)


def _day_prefix(route: str, arm: str, day: int) -> str:
    return f"mig:d:{route}:{arm}:{day}"


def read_day(store: StateStore, route: str, arm: str, day: int) -> Window:
    """Samples, errors and p95 of ``arm`` on UTC day ``day`` (days since the epoch)."""
    d = _day_prefix(route, arm, day)
    samples = _num(store.get(d + ":n"))
    if not samples:
        return Window(0, 0, None)
    errors = _num(store.get(d + ":e"))
    need, seen = 0.95 * samples, 0
    for b in range(LATENCY_BINS):
        seen += _num(store.get(f"{d}:h{b}"))
        if seen >= need:
            return Window(samples, errors, _bin_value(b))
    return Window(samples, errors, None)


def read_window(
    store: StateStore,
    route: str,
    arm: str,
    epoch: int,
    *,
    now: float,
    window_s: float,
    latency: bool = True,
) -> Window:
    """:func:`read_window_steps`, run on ``store``."""
    return run(
        read_window_steps(route, arm, epoch, now=now, window_s=window_s, latency=latency), store
    )


def read_window_steps(
    route: str,
    arm: str,
    epoch: int,
    *,
    now: float,
    window_s: float,
    latency: bool = True,
) -> Program[Window]:
    """Samples, errors and (with ``latency``) the p95 over the window ending at ``now``."""
    size = window_s / BUCKETS
    current = int(now // size)
    prefixes = [_prefix(route, arm, epoch, b) for b in range(current - BUCKETS + 1, current + 1)]
    samples = errors = 0
    live: list[str] = []
    for p in prefixes:
        n = _num((yield op("get", p + ":n")))
        if n:
            samples += n
            errors += _num((yield op("get", p + ":e")))
            live.append(p)
    p95 = (yield from _p95(live)) if latency and samples else None
    return Window(samples, errors, p95)


def _sum(keys: list[str]) -> Program[int]:
    total = 0
    for k in keys:
        total += _num((yield op("get", k)))
    return total


def _p95(prefixes: list[str]) -> Program[float | None]:
    coarse = []
    for c in range(_bins_coarse()):
        coarse.append((yield from _sum([f"{p}:c{c}" for p in prefixes])))
    need = 0.95 * sum(coarse)
    seen = 0
    for c, n in enumerate(coarse):
        if n and seen + n >= need:
            fine = range(c * _COARSE, min(LATENCY_BINS, (c + 1) * _COARSE))
            for b in fine:
                seen += yield from _sum([f"{p}:h{b}" for p in prefixes])
                if seen >= need:
                    return _bin_value(b)
            return _bin_value(fine[-1])
        seen += n
    return None


def _bins_coarse() -> int:
    return -(-LATENCY_BINS // _COARSE)


def _num(v: str | None) -> int:
    return 0 if v is None else round(float(v))
