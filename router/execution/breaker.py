"""Circuit breakers per target, kept in the state store.

A breaker is closed (calls flow), open (calls are skipped for ``cooldown_s``)
or half-open (the cooldown has passed; exactly one caller, the probe, may try
the target; its outcome closes or re-opens the breaker). The state is a few
keys in a :class:`~router.state.StateStore` and uses only its atomic
primitives, so routers in several processes or hosts share their breakers
when they share a store:

``brk:<t>:open``    present while open (expires after the cooldown)
``brk:<t>:tripped`` present from opening until a probe succeeds
``brk:<t>:probe``   the half-open probe's claim (``set_if_absent``)
``brk:<t>:run``     consecutive failures (expires ``window_s`` after the first)
``brk:<t>:c:<w>`` / ``brk:<t>:f:<w>``  calls and failures in window ``w``
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from enum import StrEnum

from ..config.schema import BreakerConfig
from ..state.base import StateStore
from ..state.program import Program, op, run

__all__ = ["BreakerState", "Breakers"]


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def _state(is_open: str | None, tripped: str | None) -> BreakerState:
    if is_open is not None:
        return BreakerState.OPEN
    return BreakerState.CLOSED if tripped is None else BreakerState.HALF_OPEN


# A tripped marker outlives any sensible cooldown, yet cannot pin a target forever.
_TRIPPED_TTL_S = 24 * 3600.0


class Breakers:
    """The breakers of every target, in one store.

    Each decision is a store program (the ``*_steps`` methods; see
    :mod:`router.state.program`) that the sync and async drivers run on their
    own store; the plain methods run it on the store given here.

    ``clock`` (wall or monotonic seconds) only names the counting windows;
    expiry is the store's own business, so a fake clock in tests must drive
    the store too (``MemoryStore(clock=...)``).
    """

    def __init__(self, store: StateStore | None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        """The sync store the plain methods use (``None``: programs only)."""
        self._clock = clock

    @staticmethod
    def _k(target: str, part: str) -> str:
        return f"brk:{target}:{part}"

    # -- programs ------------------------------------------------------------

    def state_steps(self, target: str) -> Program[BreakerState]:
        """The breaker's state as seen now (does not claim the probe)."""
        is_open, tripped = yield op(
            "get_many", (self._k(target, "open"), self._k(target, "tripped"))
        )
        return _state(is_open, tripped)

    def states_steps(self, targets: Sequence[str]) -> Program[dict[str, BreakerState]]:
        """The state of each of ``targets`` breakers, read at once (one round trip on Redis)."""
        keys = [self._k(t, part) for t in targets for part in ("open", "tripped")]
        values = yield op("get_many", keys)
        return {t: _state(values[2 * i], values[2 * i + 1]) for i, t in enumerate(targets)}

    def allow_steps(self, target: str, cfg: BreakerConfig | None) -> Program[BreakerState | None]:
        """Whether a call may go to ``target`` now: ``CLOSED`` (yes), ``HALF_OPEN`` (yes,
        as the one probe, now claimed) or ``None`` (no: open, or another call probes)."""
        if cfg is None:
            return BreakerState.CLOSED
        state = yield from self.state_steps(target)
        if state is BreakerState.CLOSED:
            return state
        if state is BreakerState.OPEN:
            return None
        # The probe's claim expires so a crashed prober cannot wedge the breaker.
        claimed = yield op("set_if_absent", self._k(target, "probe"), "1", ttl_s=cfg.cooldown_s)
        return state if claimed else None

    def success_steps(
        self, target: str, cfg: BreakerConfig | None, *, probe: bool = True
    ) -> Program[None]:
        """Record a successful call: a half-open breaker closes.

        ``probe=False`` says the call was admitted while the breaker was
        closed: only the half-open probe may close a tripped breaker, so the
        tripped marker is not read (one round trip less per call); a breaker
        that tripped meanwhile stays open until its own probe.
        """
        if cfg is None:
            return
        if probe and (yield op("get", self._k(target, "tripped"))) is not None:
            yield from self._reset(target, cfg)
            return
        yield op("delete", self._k(target, "run"))
        yield op("incr", self._window_key(target, "c", cfg), ttl_s=cfg.window_s)

    def failure_steps(self, target: str, cfg: BreakerConfig | None) -> Program[bool]:
        """Record a failed call; True when this failure opened the breaker."""
        if cfg is None:
            return False
        if (yield op("get", self._k(target, "tripped"))) is not None:
            # The half-open probe (or a straggler) failed: open for another cooldown.
            yield from self._open(target, cfg)
            return True
        run_ = yield op("incr", self._k(target, "run"), ttl_s=cfg.window_s)
        calls = yield op("incr", self._window_key(target, "c", cfg), ttl_s=cfg.window_s)
        fails = yield op("incr", self._window_key(target, "f", cfg), ttl_s=cfg.window_s)
        by_ratio = (
            cfg.failure_ratio is not None
            and calls >= cfg.min_calls
            and fails / calls >= cfg.failure_ratio
        )
        if run_ >= cfg.failures or by_ratio:
            yield from self._open(target, cfg)
            return True
        return False

    def release_steps(self, target: str) -> Program[None]:
        """Give back a half-open probe claim whose call was abandoned (not a verdict)."""
        yield op("delete", self._k(target, "probe"))

    # -- the same, run on this object's store ----------------------------------

    def state(self, target: str) -> BreakerState:
        """:meth:`state_steps`, run on :attr:`store`."""
        return run(self.state_steps(target), self.store)

    def allow(self, target: str, cfg: BreakerConfig | None) -> BreakerState | None:
        """:meth:`allow_steps`, run on :attr:`store`."""
        return run(self.allow_steps(target, cfg), self.store)

    def success(self, target: str, cfg: BreakerConfig | None, *, probe: bool = True) -> None:
        """:meth:`success_steps`, run on :attr:`store`."""
        run(self.success_steps(target, cfg, probe=probe), self.store)

    def failure(self, target: str, cfg: BreakerConfig | None) -> bool:
        """:meth:`failure_steps`, run on :attr:`store`."""
        return run(self.failure_steps(target, cfg), self.store)

    def release(self, target: str) -> None:
        """:meth:`release_steps`, run on :attr:`store`."""
        run(self.release_steps(target), self.store)

    # -- transitions -------------------------------------------------------------

    def _window_key(self, target: str, kind: str, cfg: BreakerConfig) -> str:
        return self._k(target, f"{kind}:{math.floor(self._clock() / cfg.window_s)}")

    def _open(self, target: str, cfg: BreakerConfig) -> Program[None]:
        yield op("set", self._k(target, "tripped"), "1", ttl_s=_TRIPPED_TTL_S)
        yield op("set", self._k(target, "open"), "1", ttl_s=cfg.cooldown_s)
        yield from self._forget_counts(target, cfg)

    def _reset(self, target: str, cfg: BreakerConfig) -> Program[None]:
        for part in ("open", "tripped"):
            yield op("delete", self._k(target, part))
        yield from self._forget_counts(target, cfg)

    def _forget_counts(self, target: str, cfg: BreakerConfig) -> Program[None]:
        # A fresh start after each transition: old failures must not re-open at once.
        for key in (
            self._k(target, "probe"),
            self._k(target, "run"),
            self._window_key(target, "c", cfg),
            self._window_key(target, "f", cfg),
        ):
            yield op("delete", key)
