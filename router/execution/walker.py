"""The plan walker: which target to try next, when to wait, when to give up.

This is the one implementation of retry, fallback, breaker, deadline and
hedging decisions. It does no I/O: the sync and async drivers ask it for the
next step (send to a target, or sleep), perform that step their own way, and
report the outcome back. Breaker and latency records live in the state
store, so every method that reads or writes them has a ``*_steps`` form: a
store program (:mod:`router.state.program`) that the sync driver runs on a
sync store and the async driver awaits on an async one. The plain methods
run the same program on the breakers' own store.

Retry behaviour is composed from tenacity's strategies (``stop``, ``retry``
and ``wait`` objects, built in :mod:`router.execution.retry`) rather than
from nested loops. A target without ``retry:`` is retried as the official
SDKs do by default when it is the plan's last one, and fallen back from at
once while another target remains.

The walker is built from a :class:`~router.policy.Decision` and can only ever
name targets from ``decision.plan`` — policy closure by construction.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config.schema import BreakerConfig, RetryConfig, RouteConfig
from ..errors import (
    ContextLengthExceeded,
    InvalidRequestError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
    RouterError,
)
from ..policy.decision import Decision
from ..state.program import Program, run
from ..targets import Target
from ..types import Attempt
from .breaker import Breakers, BreakerState
from .health import Health
from .limits import POLL_S, Grant, Refusal

if TYPE_CHECKING:
    from ..types import Usage
    from .limits import CallLimits
    from .retry import Strategy

__all__ = ["Send", "Sleep", "Step", "Walker", "retry_kind"]


@dataclass(slots=True, eq=False)
class Send:
    """Try ``target`` (its ``try_no``-th try).

    ``timeout_s`` is what the overall deadline leaves (``None``: no deadline);
    ``first_token_s`` bounds a stream's wait for its first content; ``index``
    is the target's position in the plan; ``hedge`` marks a hedged duplicate.
    """

    target: Target
    try_no: int
    timeout_s: float | None
    first_token_s: float | None = None
    index: int = 0
    hedge: bool = False


@dataclass(slots=True)
class Sleep:
    """Wait before the next try."""

    seconds: float


Step = Send | Sleep

_NO_RETRY = RetryConfig(attempts=1)

_SKIP, _GIVE_UP = "skip", "give up"
"""What the walk does after a limit refused a target (besides waiting)."""

# Jitter needs no fresh seed per request (seeding from the OS costs more than
# setting up the rest of a walk); tests pass their own seeded Random.
_SHARED_RNG = random.Random()


def retry_kind(err: ProviderError) -> str:
    """The ``retry.on`` category of a failure (``other`` is never retried)."""
    if isinstance(err, RateLimitError):
        return "other" if err.quota_exhausted else "rate_limit"
    if isinstance(err, ProviderTimeout):
        return "timeout"
    if isinstance(err, ProviderUnavailable):
        return "connection" if err.code == "connection" else "server_error"
    return "other"


class Walker:
    """Walks a Decision's plan for one request.

    ``clock`` is a monotonic clock; tests inject one to control deadlines.
    ``breakers`` and ``health`` are shared by every request of a router
    (they live in its state store); without them no breaker applies and no
    latency is recorded. ``limits`` are the call's rate limits
    (:mod:`router.execution.limits`): every try takes them before it is sent
    and gives its in-flight slots back when it ends.
    """

    def __init__(
        self,
        decision: Decision,
        route: RouteConfig,
        *,
        deadline_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        breakers: Breakers | None = None,
        health: Health | None = None,
        limits: CallLimits | None = None,
    ) -> None:
        fallback = decision.fallback and route.fallback
        self._plan: tuple[Target, ...] = decision.plan if fallback else decision.plan[:1]
        self._route = route
        self._clock = clock
        self._rng = rng or _SHARED_RNG
        self._breakers = breakers
        self._health = health
        self._store = (
            breakers.store if breakers is not None else health.store if health is not None else None
        )
        self._start = clock()
        deadlines = [d for d in (deadline_s, route.deadline_s) if d is not None]
        self._deadline_s = min(deadlines) if deadlines else None
        self._deadline = None if self._deadline_s is None else self._start + self._deadline_s
        self._index = 0
        self._tries = 0
        self._pending_sleep: float | None = None
        self._last_error: ProviderError | None = None
        self._timed_out = False
        self._hedged = False
        self._winner: Send | None = None
        self._probes: set[str] = set()
        self._limits = limits
        self._grants: dict[Send, Grant] = {}
        self._settle: Grant | None = None
        self._limit_waited = 0.0
        self._stop = False
        self.attempts: list[Attempt] = []

    # -- what the walk may do ----------------------------------------------

    @property
    def plan(self) -> tuple[Target, ...]:
        """The targets this walk may contact, in order (the Decision's plan, or its head)."""
        return self._plan

    def _strategy(self, t: Target) -> Program[Strategy]:
        from .retry import sdk_default, strategy_for  # on the first failure only: see retry.py

        cfg = self._route.retry or t.provider_config.retry
        if cfg is not None:
            return strategy_for(cfg, self._rng)
        # Unconfigured: fall back at once while another target remains; on the
        # last one, retry as the official SDKs would have.
        if (yield from self._another_target_left()):
            return strategy_for(_NO_RETRY, self._rng)
        return sdk_default(self._rng)

    def _another_target_left(self) -> Program[bool]:
        """Whether a planned target after the current one may still be tried.

        One behind an open breaker would only be skipped; the state is read,
        not claimed (a half-open one counts as left).
        """
        rest = self._plan[self._index + 1 :]
        if not rest:
            return False
        if self._breakers is None or any(self._breaker_cfg(t) is None for t in rest):
            return True
        # Every one has a breaker: their states in one read (one round trip on Redis).
        states = yield from self._breakers.states_steps([t.name for t in rest])
        return any(s is not BreakerState.OPEN for s in states.values())

    @staticmethod
    def _breaker_cfg(t: Target) -> BreakerConfig | None:
        return t.provider_config.breaker

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._clock()

    def _admit(self, t: Target) -> Program[bool]:
        """Ask ``t``'s breaker; remember a half-open probe claim so only we release it."""
        if self._breakers is None:
            return True
        verdict = yield from self._breakers.allow_steps(t.name, self._breaker_cfg(t))
        if verdict is BreakerState.HALF_OPEN:
            self._probes.add(t.name)
        return verdict is not None

    def _allowed(self, t: Target) -> Program[bool]:
        if (yield from self._admit(t)):
            return True
        self._record(t, "breaker_open", None, 0.0, None)
        return False

    def _release(self, t: Target) -> Program[None]:
        if self._breakers is not None and t.name in self._probes:
            self._probes.discard(t.name)
            yield from self._breakers.release_steps(t.name)

    def _send(self, index: int, hedge: bool = False) -> Send:
        return Send(
            self._plan[index],
            self._tries,
            self._remaining(),
            self._route.first_token_timeout_s,
            index,
            hedge,
        )

    def next_steps(self) -> Program[Step | None]:
        """The next step, or ``None`` when the walk has ended (see :meth:`error`)."""
        if self._stop:
            return None
        if self._pending_sleep is not None:
            delay, self._pending_sleep = self._pending_sleep, None
            return Sleep(delay)
        while True:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self._timed_out = True
                return None
            if self._index >= len(self._plan):
                return None
            t = self._plan[self._index]
            if not (yield from self._allowed(t)):
                self._advance()
                continue
            grant = None
            if self._limits is not None:
                taken = yield from self._limits.acquire_steps(t.name)
                if isinstance(taken, Refusal):
                    yield from self._release(t)  # a half-open probe claim it will not use
                    then = self._after_refusal(t, taken)
                    if isinstance(then, Sleep):
                        return then
                    if then == _SKIP:
                        self._advance()
                        continue
                    return None  # given up: error() is the rate_limited error
                grant = taken
            self._tries += 1
            send = self._send(self._index)
            if grant is not None:
                self._grants[send] = grant
            return send

    def _after_refusal(self, t: Target, refusal: Refusal) -> Sleep | str:
        """After a limit refused ``t``: skip it (``_SKIP``), wait (a ``Sleep``), or give
        up (``_GIVE_UP``: the walk ends with a ``rate_limited`` error).

        A target's own limit is skipped while a planned target remains; on the
        last one, or for a rule's limit (no other target would help), the walk
        waits for room up to ``max_wait_s`` (and the deadline).
        """
        last = self._index + 1 >= len(self._plan)
        if not refusal.call_level and not last:
            self._record(t, "rate_limited", None, 0.0, None)
            return _SKIP
        wait = POLL_S if refusal.wait_s is None else refusal.wait_s
        left = refusal.max_wait_s - self._limit_waited
        remaining = self._remaining()
        if wait <= left and (remaining is None or wait < remaining) and math.isfinite(wait):
            self._limit_waited += wait
            return Sleep(wait)
        self._record(t, "rate_limited", None, 0.0, None)
        self._stop = True
        after = (
            refusal.wait_s if refusal.wait_s is not None and math.isfinite(refusal.wait_s) else None
        )
        self._last_error = RateLimitError(
            f"{t.name}: {refusal.why}"
            + (f"; room in {after:.3g}s" if after is not None else "")
            + (f", more than max_wait_s={refusal.max_wait_s:g}" if refusal.max_wait_s else ""),
            status=429,
            code="rate_limited",
            target=t.name,
            provider=t.provider,
            retry_after_s=after,
        )
        return _GIVE_UP

    def hedge_delay(self) -> float | None:
        """Seconds to wait for a first answer before hedging; None when hedging does not apply."""
        ms = self._route.hedge_after_ms
        if ms is None or self._hedged or self._index + 1 >= len(self._plan):
            return None
        return ms / 1000.0

    def hedge_steps(self) -> Program[Send | None]:
        """A duplicate try on the next planned target the breakers and rate limits allow
        (at most once).

        The hedge becomes the walk's current target: if both tries fail, the
        walk continues from the hedge's position.
        """
        self._hedged = True
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            return None
        passed: list[tuple[Target, str]] = []
        for j in range(self._index + 1, len(self._plan)):
            t = self._plan[j]
            if not (yield from self._admit(t)):
                passed.append((t, "breaker_open"))
                continue
            grant = None
            if self._limits is not None:
                taken = yield from self._limits.acquire_steps(t.name)
                if isinstance(taken, Refusal):  # a hedge never waits: try the next one
                    yield from self._release(t)
                    passed.append((t, "rate_limited"))
                    continue
                grant = taken
            for skipped, why in passed:
                self._record(skipped, why, None, 0.0, None)
            self._index, self._tries = j, 1
            self._pending_sleep = None
            send = self._send(j, hedge=True)
            if grant is not None:
                self._grants[send] = grant
            return send
        return None

    # -- outcomes reported by the drivers ----------------------------------

    def _record(
        self, t: Target, outcome: str, status: int | None, latency_s: float, error: str | None
    ) -> None:
        self.attempts.append(
            Attempt(
                target=t.name,
                outcome=outcome,
                status=status,
                latency_s=latency_s,
                error=error,
                zone=t.zone,
                provider=t.provider,
            )
        )

    def succeeded_steps(self, step: Send, latency_s: float, *, final: bool = True) -> Program[None]:
        """Record a successful try (for a stream: its first content arrived).

        A stream's verdict for the breaker waits for :meth:`completed` or
        :meth:`interrupted` (``final=False``): a target that cuts streams
        midway is not healthy.
        """
        self._record(step.target, "ok", 200, latency_s, None)
        self._winner = step
        self._stop = True
        if self._limits is not None and self._limits.limiter._pending:
            yield from self._limits.limiter.flush_steps()
        if self._health is not None:
            yield from self._health.observe_steps(step.target.name, latency_s)
        if final:
            yield from self.completed_steps()

    def completed_steps(self) -> Program[None]:
        """The answer was delivered whole: the winning target's breaker hears success."""
        step, self._winner = self._winner, None
        if step is not None and self._limits is not None:
            grant = self._grants.pop(step, None)
            settle = self._limits.to_settle(grant)
            if settle is not None:
                # Given back with the tpm correction, in one operation (settle_limits_steps).
                self._settle = settle
            elif grant is not None:
                yield from self._limits.release_steps(grant)
        if self._grants:
            yield from self._release_limits(keep_settle=True)
        if step is not None and self._breakers is not None:
            probe = step.target.name in self._probes
            self._probes.discard(step.target.name)  # the verdict consumes the claim
            cfg = self._breaker_cfg(step.target)
            yield from self._breakers.success_steps(step.target.name, cfg, probe=probe)

    def cancelled_steps(self, step: Send, latency_s: float) -> Program[None]:
        """Record a try abandoned because another one answered first."""
        self._record(step.target, "cancelled", None, latency_s, None)
        yield from self._release(step.target)
        yield from self._release_limits(step)

    def abandoned_steps(self) -> Program[None]:
        """The caller stopped reading a winning stream, or the call failed or was
        cancelled: no verdict, free any probe claim and every in-flight slot."""
        step, self._winner = self._winner, None
        if step is not None:
            yield from self._release(step.target)
        yield from self._release_limits()
        if self._limits is not None:
            yield from self._limits.abandoned_steps()

    def _release_limits(
        self, step: Send | None = None, *, keep_settle: bool = False
    ) -> Program[None]:
        """Give back the in-flight slots of ``step`` (``None``: of every try still holding
        one, and of the answered one unless ``keep_settle``: its settlement will)."""
        if self._limits is None:
            return
        if step is None and not keep_settle and self._settle is not None:  # ended unsettled
            unsettled, self._settle = self._settle, None
            yield from self._limits.release_steps(unsettled)
        if not self._grants:
            return
        if step is None:
            grants, self._grants = list(self._grants.values()), {}
        else:
            grant = self._grants.pop(step, None)
            grants = [] if grant is None else [grant]
        for g in grants:
            yield from self._limits.release_steps(g)

    def settle_limits_steps(self, usage: Usage) -> Program[None]:
        """Correct the answered try's ``tpm`` estimate to ``usage`` (once)."""
        grant, self._settle = self._settle, None
        if grant is not None and self._limits is not None:
            yield from self._limits.settle_steps(grant, usage)

    def interrupted_steps(self, err: ProviderError) -> Program[None]:
        """The winning stream failed after its first content (no fallback is possible)."""
        if isinstance(err, ProviderUnavailable):
            step, self._winner = self._winner, None
            if step is not None and self._breakers is not None:
                self._probes.discard(step.target.name)
                yield from self._breakers.failure_steps(
                    step.target.name, self._breaker_cfg(step.target)
                )
        else:
            yield from self.abandoned_steps()

    def failed_steps(self, step: Send, err: ProviderError, latency_s: float) -> Program[None]:
        """Record a failed try and decide between retry, fallback and giving up."""
        t = step.target
        outcome = "timeout" if isinstance(err, ProviderTimeout) else "error"
        self._record(t, outcome, err.status, latency_s, type(err).__name__)
        if self._limits is not None:
            grant = self._grants.pop(step, None)
            if grant is not None:  # its slots back, its tpm estimate cut to what it used
                yield from self._limits.failed_steps(grant, err)
            if self._limits.limiter._pending:
                yield from self._limits.limiter.flush_steps()
        if self._breakers is not None and isinstance(err, ProviderUnavailable):
            self._probes.discard(t.name)  # the verdict consumes the claim
            yield from self._breakers.failure_steps(t.name, self._breaker_cfg(t))
        else:
            yield from self._release(t)  # a 4xx or a rate limit says nothing of health
        if self._stop or step.index != self._index:
            return  # a hedged straggler: the walk has moved on from it
        self._last_error = err
        # Only retryable kinds are retried on the same target, unless the
        # server's x-should-retry says otherwise (then even a 409 is).
        if (yield from self._retry(t, err)):
            return
        if isinstance(err, ContextLengthExceeded):
            self._skip_to_larger(t)
            return
        if isinstance(err, InvalidRequestError):
            # The request itself is wrong: no other target would accept it.
            self._stop = True
            return
        # Credentials are per provider, and a spent target may recover
        # elsewhere: fall back.
        self._advance()

    def _retry(self, t: Target, err: ProviderError) -> Program[bool]:
        """Schedule another try on ``t`` after ``err`` if the strategy and deadline allow."""
        delay = (yield from self._strategy(t)).delay(err, self._tries)
        if delay is None:
            return False
        remaining = self._remaining()
        if remaining is not None and delay >= remaining:
            return False
        if delay > 0:
            self._pending_sleep = delay
        return True

    def _advance(self) -> None:
        self._index += 1
        self._tries = 0

    def _skip_to_larger(self, failed: Target) -> None:
        """Move to the next planned target with a larger context window."""
        size = failed.context_window
        self._advance()
        while self._index < len(self._plan):
            t = self._plan[self._index]
            if size is None or (t.context_window is not None and t.context_window > size):
                return
            self._record(t, "skipped", None, 0.0, None)
            self._advance()

    # -- the same, run on the breakers' own store ------------------------------

    def next(self) -> Step | None:
        """:meth:`next_steps`, run on the breakers' store."""
        return run(self.next_steps(), self._store)

    def hedge(self) -> Send | None:
        """:meth:`hedge_steps`, run on the breakers' store."""
        return run(self.hedge_steps(), self._store)

    def succeeded(self, step: Send, latency_s: float, *, final: bool = True) -> None:
        """:meth:`succeeded_steps`, run on the breakers' store."""
        run(self.succeeded_steps(step, latency_s, final=final), self._store)

    def failed(self, step: Send, err: ProviderError, latency_s: float) -> None:
        """:meth:`failed_steps`, run on the breakers' store."""
        run(self.failed_steps(step, err, latency_s), self._store)

    def cancelled(self, step: Send, latency_s: float) -> None:
        """:meth:`cancelled_steps`, run on the breakers' store."""
        run(self.cancelled_steps(step, latency_s), self._store)

    def abandoned(self) -> None:
        """:meth:`abandoned_steps`, run on the breakers' store."""
        run(self.abandoned_steps(), self._store)

    def error(self) -> RouterError:
        """The error to raise once the walk has ended without success."""
        err = self._last_error
        if self._timed_out:
            last = f"; last error: {err}" if err is not None else ""
            err = ProviderTimeout(
                f"deadline of {self._deadline_s}s exceeded{last}",
                code="deadline",
                target=err.target if err is not None else None,
            )
        elif err is None:
            opened = [a.target for a in self.attempts if a.outcome == "breaker_open"]
            if opened:
                err = ProviderUnavailable(
                    "every planned target is unavailable (circuit breaker open): "
                    + ", ".join(opened),
                    code="breaker_open",
                )
            else:
                err = ProviderUnavailable("no target was tried", code="empty_plan")
        err.attempts = list(self.attempts)
        tried = sorted({a.target for a in self.attempts})
        if tried and err.code != "breaker_open" and not getattr(err, "__notes__", None):
            err.add_note(
                "planned targets: "
                + ", ".join(t.name for t in self._plan)
                + "; tried: "
                + ", ".join(tried)
            )
        return err
