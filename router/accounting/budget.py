"""The budget gate: per-request ceilings and budget reservations around one call.

Called by the facade between the policy decision and execution:

1. :meth:`BudgetGate.admit` estimates the worst case for each planned target,
   drops targets whose worst case exceeds ``max_cost_usd``, and holds the
   plan's worst case on every budget window that applies — atomically, all
   or none. A budget without room either refuses the request
   (``on_exhausted: deny`` → :class:`~router.errors.BudgetExceeded`) or
   narrows the plan to its zone ``local`` targets of zero marginal cost
   (``local_only``).
2. :meth:`BudgetGate.settle` commits the actual cost (from the returned
   usage) in place of the hold and writes the ledger record.
3. :meth:`BudgetGate.abandon` releases the hold when the call failed.

A paid try that timed out after its request was sent may be billed though
it never answered: ``settle`` and ``abandon`` charge it at its reserved
worst case, as an ``unknown`` outcome (the executor lists such tries under
:data:`UNANSWERED_KEY`).

Holds expire (``hold_s``), so a process that dies mid-call frees what it
held. Narrowing only ever removes targets: the plan stays a subset of the
policy's (policy closure).

Overshoot bound: a window's committed spend never exceeds its budget by
more than the sum of the ``excess_usd`` of the requests committed to it —
the part of a request's actual cost above its live hold. With the default
counter, text-only requests and targets that honour ``max_tokens``, that
excess is zero, so spend stays within the budget.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from .._lazylog import get_logger
from ..config.schema import BudgetEffect
from ..errors import BudgetExceeded, ConfigError, StateUnavailable
from ..ids import new_id
from ..policy.decision import Decision
from ..state import BudgetCharge, BudgetUsage, StateStore
from ..state.base import Acquired, LimitCharge
from ..state.program import Program, op, run
from ..targets import Target
from ..types import ChatRequest, ChatResponse, RequestContext, Usage
from .pricing import amortised_cost_usd, cost_usd, output_tokens_for, worst_case_cost_usd
from .tokens import ExactCounter, FastCounter, TokenCounter, output_upper_bound
from .windows import window, window_label

if TYPE_CHECKING:
    from ..embeddings.types import EmbeddingResponse
    from ..execution.call import Call
    from .ledger import LedgerRecord

__all__ = [
    "EXTRA_KEY",
    "UNANSWERED_KEY",
    "BudgetGate",
    "Estimate",
    "Hold",
    "LimitsAtAdmission",
    "budget_key_value",
    "cap_output_tokens",
]

log = get_logger(__name__)

EXTRA_KEY = "budget"
"""Where the gate keeps its :class:`Hold` in ``Call.extra``."""

UNANSWERED_KEY = "budget_unanswered"
"""Where the executor lists (by target name) the tries of a call that timed out after
their request was sent: the provider may bill them though they never answered."""

DEFAULT_HOLD_S = 900.0
_MEMO_MAX = 1024
_WINDOW_GRACE_S = 3600.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """The pre-flight estimate of one request over its planned targets.

    ``reserve_usd`` uses the input *bound* and is held against budgets, so a
    window cannot be overrun by an underestimated prompt. The policy checks
    ``max_cost_usd`` against the same worst case (``Decision.costs``, on the
    default counter's bound).
    """

    input_tokens: int
    input_tokens_bound: int
    output_tokens: Mapping[str, int]
    reserve_usd: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Hold:
    """What a call holds: the reservation id, its windows, the amount and expiry."""

    id: str
    keys: tuple[str, ...]
    amount_usd: float
    expires_at: float
    estimate: Estimate | None
    """``None`` when no budget applied: worked out only if the call is charged unfinished."""


class LimitsAtAdmission(Protocol):
    """A call's rate limits as admission sees them
    (:class:`router.execution.limits.CallLimits`): the first try's charges, taken
    in the same store operation as the budget hold."""

    def prefetch(self, target: str) -> tuple[str, list[LimitCharge], float] | None:
        """(ticket, charges, hold seconds) of a first try on ``target``; ``None``: none."""

    def prefetched(self, acquired: Acquired | None, now: float) -> None:
        """The store's answer to those charges, taken at ``now`` (``None``: not taken)."""


@dataclass(slots=True, eq=False)
class _Applied:
    rule: str
    budget: BudgetEffect
    value: str
    start: float
    end: float
    charge: BudgetCharge


def budget_key_value(key: str, context: RequestContext, route: str) -> str:
    """The value a budget is keyed by: tenant, user, route or ``metadata.X``.

    A request without that value shares one window with every other such
    request (``-``), so leaving the tenant out never escapes a budget.
    """
    if key == "tenant":
        value = context.tenant
    elif key == "user":
        value = context.user
    elif key == "route":
        value = route
    elif key.startswith("metadata.") and len(key) > len("metadata."):
        value = context.metadata.get(key[len("metadata.") :])
    else:
        raise ConfigError(
            f"unknown budget key {key!r}; use tenant, user, route or metadata.NAME",
            key="rules.budget.key",
        )
    return value if value else "-"


def _usd(x: float) -> str:
    return f"${x:.4f}" if x < 100 else f"${x:,.2f}"


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def cap_output_tokens(
    request: ChatRequest, route_default: int | None, ceiling: int | None
) -> ChatRequest:
    """``request`` with ``max_tokens`` filled from the route when unset, clamped to ``ceiling``.

    The budget's worst case is priced on this cap, so every call the gate
    admits (primary or shadow) must be sent with it.
    """
    want = request.max_tokens or route_default
    if ceiling is not None:
        want = min(want, ceiling) if want is not None else ceiling
    if want == request.max_tokens:
        return request
    return request.model_copy(update={"max_tokens": want})


class BudgetGate:
    """Ceilings, reservations and the ledger for calls of one router.

    ``counter`` counts input tokens (plug an :class:`~router.accounting.tokens.ExactCounter`
    for exact numbers); ``clock`` gives epoch seconds (tests inject one);
    ``hold_s`` is how long a reservation lives — longer than your slowest
    call, or the hold lapses and the late commit counts as excess;
    ``record`` turns ledger records off.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        counter: TokenCounter | None = None,
        clock: Callable[[], float] = time.time,
        hold_s: float = DEFAULT_HOLD_S,
        record: bool = True,
    ) -> None:
        self.store = store
        self.counter: TokenCounter = counter or FastCounter()
        self.clock = clock
        self.hold_s = hold_s
        self.record = record
        # (rule, budget, key value, minute) → its window and charge: the same
        # for every request of that minute, so built once.
        self._windows: dict[tuple[str, int, str, int], _Applied] = {}

    # -- pre-flight --------------------------------------------------------------

    def estimate(
        self, request: ChatRequest, plan: Sequence[Target], decision: Decision | None = None
    ) -> Estimate:
        """Token and cost estimates of ``request`` on each target of ``plan``.

        With the default counter, the input estimate and bound of ``decision``
        (the policy's, made with the same count) are reused rather than redone.
        """
        if decision is not None and type(self.counter) is FastCounter:
            est = decision.input_tokens
            bound = decision.input_tokens_bound or self.counter.upper_bound(request)
        else:
            est = self.counter.count(request)
            bound = self.counter.upper_bound(request)
        bound = max(est, bound)
        out: dict[str, int] = {}
        reserve: dict[str, float] = {}
        vectors = decision is not None and decision.operation == "embeddings"
        for t in plan:
            o = 0 if vectors else output_tokens_for(t, request.max_tokens)
            out[t.name] = o
            reserve[t.name] = worst_case_cost_usd(t, bound, o)
        return Estimate(est, bound, out, reserve)

    def _applied(self, decision: Decision, context: RequestContext, now: float) -> list[_Applied]:
        applied = []
        minute = int(now // 60)  # windows start on whole minutes
        memo = self._windows
        for rule, b in decision.budgets:
            value = budget_key_value(b.key, context, decision.route)
            memo_key = (rule, id(b), value, minute)
            a = memo.get(memo_key)
            if a is None or a.budget is not b:
                start, end = window(b.per, now)
                name = b.name or rule
                key = f"{quote(name, safe='')}|{b.key}={quote(value, safe='')}|{b.per}|" + (
                    window_label(b.per, start)
                )
                charge = BudgetCharge(key, b.usd, end + _WINDOW_GRACE_S)
                a = _Applied(name, b, value, start, end, charge)
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                memo[memo_key] = a
            applied.append(a)
        return applied

    def admit(
        self, request: ChatRequest, context: RequestContext, decision: Decision
    ) -> tuple[ChatRequest, Decision, Hold]:
        """:meth:`admit_steps`, run on :attr:`store`."""
        return run(self.admit_steps(request, context, decision), self.store)

    def settle(
        self, call: Call, response: ChatResponse | EmbeddingResponse, target: Target
    ) -> LedgerRecord | None:
        """:meth:`settle_steps`, run on :attr:`store`."""
        return run(self.settle_steps(call, response, target), self.store)

    def abandon(self, call: Call) -> LedgerRecord | None:
        """:meth:`abandon_steps`, run on :attr:`store`."""
        return run(self.abandon_steps(call), self.store)

    def admit_steps(
        self,
        request: ChatRequest,
        context: RequestContext,
        decision: Decision,
        limits: LimitsAtAdmission | None = None,
    ) -> Program[tuple[ChatRequest, Decision, Hold]]:
        """Reserve against every budget; the request and plan to run (a store program).

        Raises :class:`~router.errors.BudgetExceeded` when no planned target
        fits. The per-request ``max_cost_usd`` ceiling is the policy's (it has
        already excluded targets whose worst case exceeds it). Each priced
        target's endpoint sends an output cap (router.targets), so the
        reserved worst case is also the most the call can produce.

        With ``limits``, a hold that is placed also takes the first planned
        target's rate limits, in the same store operation (``admit``: on
        Redis one round trip for both); their outcome goes to ``limits``.
        """
        now = self.clock()
        # A hold must outlive the call: at least its deadline plus a margin.
        hold_s = max(self.hold_s, (context.deadline_s or 0.0) + 60.0)
        applied = self._applied(decision, context, now)
        hold_id = new_id()
        if not applied:
            return request, decision, Hold(hold_id, (), 0.0, now + hold_s, None)
        est = self.estimate(request, decision.plan, decision)
        amount = max(est.reserve_usd[t.name] for t in decision.plan)
        if amount <= 0:
            return request, decision, Hold(hold_id, (), 0.0, now + hold_s, est)
        charges = [a.charge for a in applied]
        first = None if limits is None else limits.prefetch(decision.plan[0].name)
        if limits is None or first is None:
            res = yield op("budget_reserve", hold_id, charges, amount, now=now, hold_s=hold_s)
        else:
            ticket, taken, limit_hold_s = first
            both = yield op(
                "admit",
                hold_id,
                charges,
                amount,
                ticket,
                taken,
                now=now,
                hold_s=hold_s,
                limit_hold_s=limit_hold_s,
            )
            res = both.reserved
            limits.prefetched(both.acquired, now)
        if res.ok:
            keys = tuple(c.key for c in charges)
            return request, decision, Hold(hold_id, keys, amount, now + hold_s, est)
        refused = [a for a in applied if a.charge.key in res.refused]
        # local_only means zone local (and free): never a model whose price is merely unknown.
        free = tuple(t for t in decision.plan if t.zone == "local" and t.marginal_cost_free)
        if any(a.budget.on_exhausted == "deny" for a in refused) or not free:
            why = self._explain(refused, res.usage, est, decision, amount, bool(free))
            raise BudgetExceeded(why + "\n" + decision.explain(), decision)
        reason = (
            "budget "
            + ", ".join(repr(a.rule) for a in refused)
            + (" exhausted (on_exhausted: local_only)")
        )
        decision = _narrow(decision, free, reason)
        # Zero-marginal-cost targets reserve nothing, so no second hold is needed.
        return request, decision, Hold(hold_id, (), 0.0, now + hold_s, est)

    @staticmethod
    def _explain(
        refused: Sequence[_Applied],
        usage: Mapping[str, BudgetUsage],
        est: Estimate,
        decision: Decision,
        amount: float,
        has_free: bool,
    ) -> str:
        top = max(decision.plan, key=lambda t: est.reserve_usd[t.name])
        lines = [
            f"budget exceeded: this request may cost up to {_usd(amount)} "
            f"(on {top.name}: at most {est.input_tokens_bound} input + "
            f"{est.output_tokens[top.name]} output tokens)"
        ]
        for a in refused:
            u = usage.get(a.charge.key, BudgetUsage())
            left = max(0.0, a.budget.usd - u.spent_usd - u.held_usd)
            lines.append(
                f"  budget {a.rule!r}: {_usd(a.budget.usd)} per {a.budget.per} for "
                f"{a.budget.key}={a.value}; window {_utc(a.start)} to {_utc(a.end)}: "
                f"{_usd(u.spent_usd)} spent, {_usd(u.held_usd)} held by {u.holds} call(s) "
                f"in flight, {_usd(left)} left; on_exhausted: {a.budget.on_exhausted}"
            )
        if not has_free and all(a.budget.on_exhausted == "local_only" for a in refused):
            lines.append("  no zero-marginal-cost target in zone local in the plan to fall back to")
        lines.append(f"  the window resets at {_utc(max(a.end for a in refused))}")
        return "\n".join(lines)

    # -- after the call ---------------------------------------------------------

    def usage_bound(
        self, request: ChatRequest, response: ChatResponse, target: Target | None = None
    ) -> Usage:
        """Usage for a response that reported none (a stream without a usage chunk).

        Never below what the provider can bill: the input bound reservations
        use, and the output's bound — UTF-8 bytes of its text plus markup, or
        the tokenizer's count with an :class:`~router.accounting.tokens.ExactCounter`
        — but no more than the output cap the request was sent with. Flagged
        estimated.
        """
        counter = self.counter
        prompt = counter.upper_bound(request)
        if isinstance(counter, ExactCounter):
            completion = counter.count_output(response)
        else:
            completion = output_upper_bound(response)
        cap = request.max_tokens
        if cap is None and target is not None:
            cap = target.endpoint.default_max_tokens  # what its endpoint sends instead
        if cap is not None:
            completion = min(completion, cap)
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            estimated=True,
        )

    def settle_steps(
        self, call: Call, response: ChatResponse | EmbeddingResponse, target: Target
    ) -> Program[LedgerRecord | None]:
        """Commit the actual cost in place of the hold and write the ledger record.

        Paid tries of the call that timed out after being sent are charged too
        (:meth:`_unanswered`), after the answer, on what is left of the hold.
        """
        hold: Hold | None = call.extra.pop(EXTRA_KEY, None)
        if hold is None:
            return None
        usage = response.usage
        actual = cost_usd(target, usage)
        rec = yield from self._commit(
            call,
            hold,
            target,
            actual,
            amortised_cost_usd(target, usage),
            prompt=usage.prompt_tokens if usage else 0,
            completion=usage.completion_tokens if usage else 0,
            cached=usage.cached_tokens if usage else 0,
            estimated=bool(usage and usage.estimated),
            outcome="ok",
            cache=response.route.cache if response.route is not None else None,
        )
        unanswered = self._unanswered(call)
        if unanswered:
            charges = [(t, "unknown") for t in unanswered]
            yield from self._charge_worst(call, hold, charges, hold.amount_usd - actual)
        return rec

    def abandon_steps(self, call: Call) -> Program[LedgerRecord | None]:
        """The call failed: release its hold, or charge what the provider may bill.

        A stream that fails or is closed after its first content has been
        billed by the provider for what it generated, which the router cannot
        know: it is charged at the reserved worst case (``interrupted``),
        flagged estimated. So is each paid try that timed out after its
        request was sent (``unknown``): the reserved amount stays spent.
        """
        hold: Hold | None = call.extra.pop(EXTRA_KEY, None)
        if hold is None:
            return None
        delivered = next((a for a in reversed(call.walker.attempts) if a.outcome == "ok"), None)
        planned = {t.name: t for t in call.decision.plan}
        target = planned.get(delivered.target) if delivered is not None else None
        unanswered = self._unanswered(call)
        if target is None and not unanswered:
            if hold.keys:
                try:
                    yield op("budget_release", hold.id, hold.keys)
                except Exception:  # the hold expires on its own
                    log.warning("could not release budget hold %s", hold.id, exc_info=True)
            return None
        charges = [(t, "unknown") for t in unanswered]
        if target is not None:
            charges.append((target, "interrupted"))
        return (yield from self._charge_worst(call, hold, charges, hold.amount_usd))

    def record_hit_steps(self, call: Call, target: Target) -> Program[LedgerRecord | None]:
        """Write the ledger record of an answer served from the response cache.

        Nothing was sent, so nothing was held or spent: cost and tokens are
        zero, ``cache`` is ``hit``. A store error is logged, never raised.
        """
        if not self.record:
            return None
        now = self.clock()
        rec = _record(
            call, target, now, amortised_cost_usd=None if target.cost is None else 0.0, cache="hit"
        )
        try:
            yield op("ledger_append", rec.to_json(), ts=now)
        except Exception as e:
            log.warning("could not record cache hit of request %s: %s", rec.request_id, e)
        return rec

    def _unanswered(self, call: Call) -> list[Target]:
        """The paid planned targets of the call's tries that timed out after being sent."""
        names: list[str] = call.extra.pop(UNANSWERED_KEY, None) or []
        if not names:  # every settled call asks; almost none has any
            return []
        planned = {t.name: t for t in call.decision.plan}
        return [t for n in names if (t := planned.get(n)) is not None and not t.marginal_cost_free]

    def _charge_worst(
        self,
        call: Call,
        hold: Hold,
        charges: Sequence[tuple[Target, str]],
        cover: float,
    ) -> Program[LedgerRecord | None]:
        """Commit each (target, outcome) at its reserved worst case, flagged estimated.

        ``cover`` is what is left of the live hold for these charges: a charge
        beyond it is excess. Returns the last record.
        """
        est = hold.estimate or self.estimate(call.request, call.decision.plan, call.decision)
        rec = None
        for target, why in charges:
            prompt, completion = est.input_tokens_bound, est.output_tokens.get(target.name, 0)
            charged = est.reserve_usd.get(target.name, hold.amount_usd)
            usage = Usage(prompt_tokens=prompt, completion_tokens=completion, estimated=True)
            rec = yield from self._commit(
                call,
                hold,
                target,
                charged,
                amortised_cost_usd(target, usage),
                prompt=prompt,
                completion=completion,
                cached=0,
                estimated=True,
                outcome=why,
                cover=max(0.0, cover),
            )
            cover -= charged
        return rec

    def _commit(
        self,
        call: Call,
        hold: Hold,
        target: Target,
        actual: float,
        amortised: float | None,
        *,
        prompt: int,
        completion: int,
        cached: int,
        estimated: bool,
        outcome: str,
        cover: float | None = None,
        cache: str | None = None,
    ) -> Program[LedgerRecord]:
        """Write one record; ``cover``: the part of the live hold it may use (default all).

        Committing again under a hold already committed adds its spend to the
        same windows (the hold is gone by then).
        """
        now = self.clock()
        live = now < hold.expires_at
        excess = 0.0
        if hold.keys:
            held = hold.amount_usd if cover is None else cover
            excess = max(0.0, actual - held) if live else actual
        rec = _record(
            call,
            target,
            now,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            cost_usd=actual,
            amortised_cost_usd=amortised,
            estimated=estimated,
            reserved_usd=hold.amount_usd,
            excess_usd=excess,
            budgets=hold.keys,
            outcome=outcome,
            shadow_of=call.extra.get("shadow_of"),
            cache=cache,
        )
        line = rec.to_json() if self.record else None
        try:
            if hold.keys:
                yield op("budget_commit", hold.id, hold.keys, actual, now=now, record=line)
            elif line is not None:
                yield op("ledger_append", line, ts=now)
        except StateUnavailable as e:
            # Expected while the store is down (docs/state.md): no traceback per call.
            log.warning("could not record spend of request %s: %s", rec.request_id, e)
        except Exception:
            # The response is already paid for and in hand: losing it over a
            # ledger write would be worse. The hold expires on its own.
            log.warning("could not record spend of request %s", rec.request_id, exc_info=True)
        return rec


def _record(call: Call, target: Target, now: float, **fields: Any) -> LedgerRecord:
    """The ledger record of ``call`` answered (or charged) on ``target``, with ``fields``."""
    from .ledger import LedgerRecord  # with the first record, not with a router

    ctx = call.context
    return LedgerRecord(
        ts=now,
        request_id=call.decision.id,
        route=call.decision.route,
        target=target.name,
        model=target.model_id,
        provider=target.provider,
        zone=target.zone,
        tenant=ctx.tenant,
        user=ctx.user,
        **fields,
    )


def _narrow(
    decision: Decision,
    keep: tuple[Target, ...],
    reason: str | None,
    reasons: Mapping[str, str] | None = None,
) -> Decision:
    """``decision`` with its plan cut down to ``keep`` (a subset), exclusions explained."""
    kept = {t.name for t in keep}
    excluded = {k: tuple(v) for k, v in decision.excluded.items()}
    for t in decision.plan:
        if t.name in kept:
            continue
        why = (reasons or {}).get(t.name) or reason or "excluded by budget"
        excluded[t.name] = (*excluded.get(t.name, ()), why)
    notes = decision.notes + ((f"plan narrowed: {reason}",) if reason else ())
    plan = tuple(t for t in decision.plan if t.name in kept)
    return dataclasses.replace(decision, plan=plan, excluded=excluded, notes=notes)
