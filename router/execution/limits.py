"""Rate and concurrency limits: what a call takes from the shared store, and gives back.

Three sources, one mechanism:

- **Configured limits** — ``limits: {rpm, tpm, max_in_flight}`` on a
  provider (shared by its models) or a model — are charged to the state
  store atomically for each try (``StateStore.limit_acquire``): all of a
  target's limits at once, or none. ``max_in_flight`` holds are given back
  when the try ends (answer, error, cancellation, stream closed), or expire
  after :data:`HOLD_S` if the process dies.
- **Rule limits** — ``limit: {rpm, tpm, key}`` — count calls per tenant
  (user, route, ``metadata.X``) and rule; they are taken with the first try
  that gets through, in the same atomic step as that target's limits, and
  once per call.
- **Provider headers** (:mod:`router.providers.ratelimit_headers`) and a full
  ``rpm`` window *mark* a target limited until a time, as a key/value entry
  in the store. Every router sharing the store reads the marks in its
  snapshot, and the policy leaves marked targets out of the plan while
  another admitted target remains.

``tpm`` is charged at admission with the call's estimate — estimated input
tokens plus the output cap (``max_tokens`` after the policy's caps; no
output when the call has none) — and corrected to the reported usage when
the call ends: the difference is added to (or given back from) the bucket of
the minute it was charged in, so it ages out with it. A try that ends without
an answer is corrected too (:func:`spent_by`): given back whole when nothing
reached the provider, cut to the input estimate when the provider answered
with an error; a timeout or a stream cut short keeps its estimate (output may
have been produced).

A call under a budget takes its first planned target's limits together with
its budget hold, in one store operation (``StateStore.admit``, made by
:meth:`router.accounting.budget.BudgetGate.admit_steps`): the outcome waits in
the call's :class:`CallLimits` until the walk's first acquisition for that
target uses it without a store operation; a walk that starts elsewhere (an
open breaker) gives the prefetched limits back first.

Everything that touches the store is a store program
(:mod:`router.state.program`): ``Router`` runs it on its sync store,
``AsyncRouter`` awaits it on its async one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .._lazylog import get_logger
from ..errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ..providers.ratelimit_headers import limited_for, read_hint
from ..state.base import Acquired, LimitCharge
from ..state.program import Program, op

if TYPE_CHECKING:
    from ..config.schema import Config, RateLimits
    from ..policy.decision import Decision
    from ..targets import Target
    from ..types import ChatRequest, RequestContext, Usage

__all__ = [
    "HOLD_S",
    "INPUT",
    "MARK_PREFIX",
    "NOT_SENT_TIMEOUTS",
    "UNSENT",
    "WHOLE",
    "CallLimits",
    "Grant",
    "Limiter",
    "Refusal",
    "spent_by",
]

log = get_logger(__name__)

MARK_PREFIX = "rl:"
"""Key/value prefix of a target's "limited until" mark."""

HOLD_S = 3600.0
"""How long an in-flight hold outlives a process that died holding it (seconds)."""

POLL_S = 0.05
"""How often a call waiting for an in-flight slot asks again."""

MARKS_CACHE_S = 1.0
"""How long a process reuses the marks it read (its own marks it knows at once): on
Redis, a round trip per second rather than per call."""

_MINUTE = 60.0
_NAMES_MAX = 4096

UNSENT, INPUT, WHOLE = 0, 1, 2
"""What a try that ended without an answer used of its ``tpm`` estimate: nothing
(nothing reached the provider), its input (the provider answered with an error:
no output was produced), or possibly all of it (a timeout after sending, a stream
cut or abandoned after it began, a cancelled hedge: output may have been produced)."""

NOT_SENT_TIMEOUTS = frozenset({"ConnectTimeout", "PoolTimeout", "WriteTimeout"})
"""httpx timeouts that end before the whole request reached the server."""


def spent_by(err: ProviderError) -> int:
    """:data:`UNSENT`, :data:`INPUT` or :data:`WHOLE`: what a try that failed with
    ``err`` used of its ``tpm`` estimate.

    A connection refused (``ConnectError``) or a connect, pool or write timeout
    never delivered the request. Any other timeout came after the request was
    sent, and the provider may have generated up to the output cap meanwhile
    (the budget charges such a try its worst case too). Any other failure is an
    answer — an error status, or a connection lost before the first content —
    without output.
    """
    if isinstance(err, ProviderTimeout):
        unsent = err.code == "timeout" and err.message in NOT_SENT_TIMEOUTS
        return UNSENT if unsent else WHOLE
    if isinstance(err, ProviderUnavailable) and err.code == "connection":
        return UNSENT if err.message == "ConnectError" else INPUT
    return INPUT


@dataclass(slots=True)
class Grant:
    """What one try took: its concurrency holds and its ``tpm`` charges."""

    ticket: str
    inflight: tuple[str, ...]
    tpm: tuple[LimitCharge, ...]
    tokens: int
    at: float


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a try could not take its limits, and how long room may take to appear."""

    call_level: bool
    """A rule's (tenant, user…) limit: no other target would help."""
    wait_s: float | None
    """Seconds until the refused limits admit this call (``None``: unknown; ``inf``: never)."""
    max_wait_s: float
    """How long the refused limits' configuration lets a call wait."""
    why: str


@dataclass(frozen=True, slots=True)
class _TargetPlan:
    """A target's limits compiled once: the charges that never change, the ``tpm``
    windows a call's estimate fills in, its in-flight keys and its ``max_wait_s``."""

    fixed: tuple[LimitCharge, ...]
    tpm: tuple[tuple[str, float], ...]
    inflight: tuple[str, ...]
    max_wait_s: float

    def charges(self, tokens: int) -> tuple[list[LimitCharge], tuple[LimitCharge, ...]]:
        """(all charges, the tpm ones) of one try estimated at ``tokens``."""
        if not self.tpm:
            return list(self.fixed), ()
        amount = float(tokens)
        if len(self.tpm) == 1:  # the usual case, without a generator's cost
            (key, limit), charges = self.tpm[0], list(self.fixed)
            c = LimitCharge(key, limit, amount, _MINUTE)
            charges.append(c)
            return charges, (c,)
        tpm = tuple([LimitCharge(key, limit, amount, _MINUTE) for key, limit in self.tpm])
        return [*self.fixed, *tpm], tpm


def _plan(scopes: list[tuple[str, RateLimits]]) -> _TargetPlan:
    fixed: list[LimitCharge] = []
    tpm: list[tuple[str, float]] = []
    inflight: list[str] = []
    for name, cfg in scopes:
        if cfg.rpm is not None:
            fixed.append(LimitCharge(f"{name}:rpm", cfg.rpm, 1.0, _MINUTE))
        if cfg.tpm is not None:
            tpm.append((f"{name}:tpm", float(cfg.tpm)))
        if cfg.max_in_flight is not None:
            fixed.append(LimitCharge(f"{name}:inflight", cfg.max_in_flight))
            inflight.append(f"{name}:inflight")
    wait = min(cfg.max_wait_s for _, cfg in scopes)
    return _TargetPlan(tuple(fixed), tuple(tpm), tuple(inflight), wait)


_NO_LIMITS = _TargetPlan((), (), (), 0.0)


@dataclass(slots=True)
class _Prefetch:
    """A try's limits taken at admission, with the budget hold, for ``target``."""

    target: str
    plan: _TargetPlan
    ticket: str
    charges: list[LimitCharge]
    tpm: tuple[LimitCharge, ...]
    at: float
    acquired: Acquired | None = None
    """The store's answer; ``None`` until it came (or when the hold was refused)."""


def _until(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%SZ")


class Limiter:
    """A router's limits: compiled from its config once, shared by its calls.

    ``clock`` is the wall clock (epoch seconds) that every process sharing
    the store agrees on; ``key_value(key, context, route)`` is the value a
    rule's limit is counted under (budgets' keying:
    :func:`router.accounting.budget.budget_key_value`).
    """

    def __init__(
        self,
        config: Config,
        targets: Mapping[str, Target],
        key_value: Callable[[str, RequestContext, str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self._key_value = key_value
        self._plans: dict[str, _TargetPlan] = {}
        for name, t in targets.items():
            scopes: list[tuple[str, RateLimits]] = []
            if t.provider_config.limits is not None:
                scopes.append((f"provider:{t.provider}", t.provider_config.limits))
            model = config.models.get(name)
            if model is not None and model.limits is not None:
                scopes.append((f"model:{name}", model.limits))
            if scopes:
                self._plans[name] = _plan(scopes)
        self.watched = tuple(n for n, t in targets.items() if t.kind != "embedded")
        """Targets whose rate-limit marks the snapshot reads (those spoken to over HTTP)."""
        self._mark_keys = [MARK_PREFIX + n for n in self.watched]
        self._pending: deque[tuple[str, float, float, str]] = deque()
        self._marks: tuple[float, dict[str, tuple[float, float, str]]] | None = None
        """(monotonic time read, target → (until, room, why)): the marks last read."""
        self._rule_charges: dict[tuple[str, str], tuple[LimitCharge | None, str]] = {}
        """(rule, key value) → its rpm charge (the same every call) and its tpm key."""
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """Whether any target has ``limits:``."""
        return bool(self._plans)

    # -- marks: the snapshot's view of limited targets --------------------------

    def marks_steps(self) -> Program[dict[str, tuple[float, str]]]:
        """Target → (tokens it has room for, why it is limited and until when), for
        every marked target (room 0: no request at all).

        Read from the store at most every :data:`MARKS_CACHE_S` seconds; the
        marks this process writes are known at once.
        """
        if not self._mark_keys:
            return {}
        cached = self._marks
        tick = time.monotonic()
        if cached is None or tick - cached[0] >= MARKS_CACHE_S:
            values = yield op("get_many", self._mark_keys)
            marks: dict[str, tuple[float, float, str]] = {}
            for name, v in zip(self.watched, values, strict=True):
                if v is None:
                    continue
                parts = v.split(" ", 2)
                try:
                    until, room = float(parts[0]), float(parts[1])
                except (ValueError, IndexError):
                    continue
                marks[name] = (until, room, parts[2] if len(parts) > 2 else "")
            self._marks = cached = (tick, marks)
        now = self.clock()
        return {
            name: (room, f"{why} until {_until(until)}")
            for name, (until, room, why) in cached[1].items()
            if until > now
        }

    def _mark(self, target: str, seconds: float, room: float, why: str) -> Program[None]:
        if seconds > 0 and math.isfinite(seconds):
            until = self.clock() + seconds
            yield op("set", MARK_PREFIX + target, f"{until!r} {room!r} {why}", seconds)
            cached = self._marks
            if cached is not None:  # this process's own news is never stale
                self._marks = (cached[0], {**cached[1], target: (until, room, why)})

    # -- provider headers ----------------------------------------------------------

    def observe(
        self,
        target: Target,
        tokens_needed: Callable[[], int],
        status: int,
        headers: Mapping[str, str],
    ) -> None:
        """Read a response's rate-limit headers (called by the HTTP senders; no I/O).

        A target the headers show limited is queued, and written to the store
        by the next store step of any call (:meth:`flush_steps`).
        """
        try:
            hint = read_hint(headers, self.clock())
            if hint is None:
                return
            need = tokens_needed() if hint.tokens_remaining is not None else 0
            found = limited_for(hint, status=status, tokens_needed=need)
        except Exception:  # headers only ever steer: they never fail a call
            log.debug("unreadable rate-limit headers from %s", target.name)
            return
        if found is not None:
            with self._lock:
                self._pending.append((target.name, *found))

    def flush_steps(self) -> Program[None]:
        """Write the marks the headers asked for since the last flush."""
        while self._pending:
            try:
                name, seconds, room, why = self._pending.popleft()
            except IndexError:  # another call flushed it
                return
            yield from self._mark(name, seconds, room, why)

    # -- one call ------------------------------------------------------------------

    def for_call(self, decision: Decision, request: ChatRequest, ctx: RequestContext) -> CallLimits:
        """The limits of one call: its token estimate and its rules' rate limits."""
        tokens = decision.input_tokens + (request.max_tokens or decision.output_tokens or 0)
        if not decision.rate_limits:
            return CallLimits(self, decision.id, tokens, (), 0.0, False, decision.input_tokens)
        rules: list[LimitCharge] = []
        wait = math.inf
        with_tpm = False
        known = self._rule_charges
        for rule, eff in decision.rate_limits:
            value = self._key_value(eff.key, ctx, decision.route)
            found = known.get((rule, value))
            if found is None:
                if len(known) >= _NAMES_MAX:
                    known.clear()
                name = f"rule:{rule}:{eff.key}={value}"
                rpm = None if eff.rpm is None else LimitCharge(name + ":rpm", eff.rpm, 1.0, _MINUTE)
                found = known[(rule, value)] = (rpm, name + ":tpm")
            if found[0] is not None:
                rules.append(found[0])
            if eff.tpm is not None:
                rules.append(LimitCharge(found[1], eff.tpm, float(tokens), _MINUTE))
                with_tpm = True
            wait = min(wait, eff.max_wait_s)
        return CallLimits(
            self, decision.id, tokens, tuple(rules), wait, with_tpm, decision.input_tokens
        )

    def plan_for(self, target: str) -> _TargetPlan:
        """``target``'s compiled limits (empty when it has none)."""
        return self._plans.get(target, _NO_LIMITS)


class CallLimits:
    """One call's side of the limits: what its tries take and give back."""

    __slots__ = (
        "_n",
        "_prefetch",
        "_rules_tpm",
        "_spent",
        "input_tokens",
        "limiter",
        "rules",
        "rules_at",
        "rules_wait_s",
        "taken_rules",
        "ticket",
        "tokens",
    )

    def __init__(
        self,
        limiter: Limiter,
        ticket: str,
        tokens: int,
        rules: tuple[LimitCharge, ...],
        rules_wait_s: float,
        rules_tpm: bool,
        input_tokens: int,
    ) -> None:
        self.limiter = limiter
        self.ticket = ticket
        self.tokens = tokens
        """Estimated tokens of the call (input plus output cap): what ``tpm`` is charged."""
        self.input_tokens = min(input_tokens, tokens)
        """The input part of :attr:`tokens`: what a try answered without output used."""
        self.rules = rules
        self.rules_wait_s = rules_wait_s
        self._rules_tpm = rules_tpm
        self.taken_rules = not rules
        self.rules_at = 0.0
        """When the rules' limits were taken (their ``tpm`` is corrected there)."""
        self._n = 0
        self._prefetch: _Prefetch | None = None
        self._spent = UNSENT
        """The most any try of the call used of its estimate (:func:`spent_by`)."""

    def _next_ticket(self) -> str:
        self._n += 1
        return f"{self.ticket}.{self._n}"

    def _charges(
        self, target: str
    ) -> tuple[_TargetPlan, list[LimitCharge], tuple[LimitCharge, ...]]:
        """``target``'s plan, what a try on it takes (the call's rules too, until a try
        has taken them) and its ``tpm`` charges."""
        plan = self.limiter.plan_for(target)
        charges, tpm = plan.charges(self.tokens)
        if not self.taken_rules:
            charges = [*self.rules, *charges]
        return plan, charges, tpm

    # -- taken at admission, with the budget hold ------------------------------------

    def prefetch(self, target: str) -> tuple[str, list[LimitCharge], float] | None:
        """The ticket, charges and hold time of a first try on ``target``, to be taken
        with the call's budget hold (``StateStore.admit``); ``None`` when nothing
        limits that try. Report the store's answer with :meth:`prefetched`."""
        plan, charges, tpm = self._charges(target)
        if not charges:
            return None
        ticket = self._next_ticket()
        self._prefetch = _Prefetch(target, plan, ticket, charges, tpm, self.limiter.clock())
        return ticket, charges, HOLD_S

    def prefetched(self, acquired: Acquired | None, now: float) -> None:
        """The store's answer to the charges of :meth:`prefetch`, taken at ``now``
        (``None``: they were not taken — the budget hold was refused)."""
        pre = self._prefetch
        if pre is not None:
            if acquired is None:
                self._prefetch = None
            else:
                pre.acquired, pre.at = acquired, now

    def unused_steps(self) -> Program[None]:
        """Give back what was taken at admission and not used by a try (the walk began
        on another target, or ended before its first try)."""
        pre, self._prefetch = self._prefetch, None
        if pre is None or pre.acquired is None or not pre.acquired.ok:
            return
        windows = [
            LimitCharge(c.key, c.limit, -c.amount, c.window_s) for c in pre.charges if c.window_s
        ]
        inflight = [c.key for c in pre.charges if not c.window_s]
        yield op("limit_release", pre.ticket, inflight, windows, at=pre.at)

    # -- each try ----------------------------------------------------------------------

    def acquire_steps(self, target: str) -> Program[Grant | Refusal | None]:
        """Take a try's limits on ``target``: a :class:`Grant`, a :class:`Refusal`,
        or ``None`` when nothing limits it. The first try uses what admission took
        for it, if anything (no store operation)."""
        lim = self.limiter
        if lim._pending:
            yield from lim.flush_steps()
        pre = self._prefetch
        if pre is not None:
            if pre.target == target and pre.acquired is not None:
                self._prefetch = None
                outcome = self._outcome(target, pre.plan, pre.ticket, pre.tpm, pre.acquired, pre.at)
                return (yield from outcome)
            yield from self.unused_steps()
        plan, charges, tpm = self._charges(target)
        if not charges:
            return None
        ticket = self._next_ticket()
        now = lim.clock()
        res = yield op("limit_acquire", ticket, charges, now=now, hold_s=HOLD_S)
        return (yield from self._outcome(target, plan, ticket, tpm, res, now))

    def _outcome(
        self,
        target: str,
        plan: _TargetPlan,
        ticket: str,
        tpm: tuple[LimitCharge, ...],
        res: Acquired,
        now: float,
    ) -> Program[Grant | Refusal]:
        """The try's :class:`Grant` or :class:`Refusal` from the store's answer."""
        if res.ok:
            if not self.taken_rules:
                self.taken_rules, self.rules_at = True, now
            return Grant(ticket, plan.inflight, tpm, self.tokens, now)
        refused = res.refused
        call_level = any(c.key in refused for c in self.rules)
        if not call_level and all(k.endswith(":rpm") for k in refused):
            # A full request window refuses any call: let every router steer away.
            yield from self.limiter._mark(
                target, res.retry_after_s or 0.0, 0.0, "rpm limit reached"
            )
        why = ", ".join(refused)
        return Refusal(
            call_level,
            res.retry_after_s,
            self.rules_wait_s if call_level else plan.max_wait_s,
            f"limit reached: {why}",
        )

    def to_settle(self, grant: Grant | None) -> Grant | None:
        """What the answered try settles: its grant when it or the call's rules have a
        ``tpm`` estimate to correct (its in-flight slots are then given back with the
        correction), a grant of the rules alone when the try itself took nothing;
        ``None`` when there is nothing to correct."""
        self._spent = WHOLE  # answered: the settlement corrects the rules, not abandonment
        rules = self._rules_tpm and self.taken_rules
        if grant is not None:
            return grant if grant.tpm or rules else None
        if rules:
            return Grant(f"{self.ticket}.0", (), (), self.tokens, self.rules_at)
        return None

    def release_steps(self, grant: Grant) -> Program[None]:
        """Give back a try's in-flight holds; its ``tpm`` estimate stays (a try cancelled
        or cut short may have produced output)."""
        self._spent = WHOLE
        if grant.inflight:
            yield op("limit_release", grant.ticket, grant.inflight)

    def failed_steps(self, grant: Grant, err: ProviderError) -> Program[None]:
        """Give back a failed try's in-flight holds and correct its ``tpm`` estimate to
        what it used (:func:`spent_by`): one operation."""
        spent = spent_by(err)
        self._spent = max(self._spent, spent)
        keep = self.input_tokens if spent == INPUT else self.tokens if spent == WHOLE else 0
        delta = float(keep - grant.tokens)
        adjust = [LimitCharge(c.key, c.limit, delta, _MINUTE) for c in grant.tpm] if delta else []
        if grant.inflight or adjust:
            yield op("limit_release", grant.ticket, grant.inflight, adjust, at=grant.at)

    def abandoned_steps(self) -> Program[None]:
        """The call ended without an answer: give back what admission took and no try
        used, and correct the rules' ``tpm`` estimate as its tries' (given back when
        none reached the provider, the input when none may have produced output)."""
        if self._prefetch is not None:
            yield from self.unused_steps()
        if not (self._rules_tpm and self.taken_rules) or self._spent == WHOLE:
            return
        keep = self.input_tokens if self._spent == INPUT else 0
        delta = float(keep - self.tokens)
        if delta:
            self._spent = WHOLE  # once
            adjust = [
                LimitCharge(c.key, c.limit, delta, _MINUTE)
                for c in self.rules
                if c.key.endswith(":tpm")
            ]
            yield op("limit_release", f"{self.ticket}.0", (), adjust, at=self.rules_at)

    def settle_steps(self, grant: Grant, usage: Usage) -> Program[None]:
        """Give back the answered try's in-flight slots and correct its ``tpm`` estimates
        (the target's and the rules') to the tokens it used: one operation, two when an
        earlier try took the rules' limits."""
        if self.limiter._pending:
            yield from self.limiter.flush_steps()
        delta = float(usage.prompt_tokens + usage.completion_tokens - grant.tokens)
        adjust: list[LimitCharge] = []
        later: list[LimitCharge] = []
        if delta:
            adjust = [LimitCharge(c.key, c.limit, delta, _MINUTE) for c in grant.tpm]
            if self._rules_tpm and self.taken_rules:
                rules = [
                    LimitCharge(c.key, c.limit, delta, _MINUTE)
                    for c in self.rules
                    if c.key.endswith(":tpm")
                ]
                (adjust if self.rules_at == grant.at else later).extend(rules)
        if grant.inflight or adjust:
            yield op("limit_release", grant.ticket, grant.inflight, adjust, at=grant.at)
        if later:
            yield op("limit_release", grant.ticket, (), later, at=self.rules_at)
