"""Shadow traffic: sampled copies of answered requests, sent in the background.

The primary answer is returned first and never waits: :meth:`ShadowRunner.submit`
only samples, snapshots the primary's numbers and hands the job to a small
bounded thread pool (:class:`AsyncShadowRunner`: an asyncio task); when the
route's ``max_concurrency`` shadows are already in flight the copy is
dropped and counted. The policy must admit the shadow target *for this
request*, twice: the primary Decision's own verdict (``decision.shadow``,
taken with the route's facts, when the engine plans shadows) and, in the
background, a decision for the shadow target itself (``policy.decide(...,
model=<shadow model>)``); either refusal means no shadow. An admitted shadow is sent
through the same executor, with a walker built from that shadow Decision, so
it obeys the plan like any attempt, and reports to the same observer
(tracing, audit: a shadow's Call carries ``extra["shadow_of"]``, its
Decision a note). A shadow spends money like any call, so it passes the
same :class:`~router.accounting.budget.BudgetGate`: admitted only if its
worst case fits every budget of the request (the primary Decision's and its
own), settled with its actual cost in the ledger (``shadow_of`` set) or
released on failure; a budget without room skips the copy (counted as
``refused_budget``), never the primary. The result is compared with the
primary (:mod:`.compare`) and never reaches the caller.

Sync and async runners share :class:`ShadowPlanner`; they differ only in how
a job is scheduled and awaited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..accounting.budget import EXTRA_KEY, BudgetGate, cap_output_tokens
from ..config.schema import BudgetEffect, RouteConfig, ShadowConfig
from ..errors import BudgetExceeded, NoEligibleTarget, StateUnavailable
from ..execution.call import Call
from ..execution.walker import Walker
from ..policy import Decision, Policy, Snapshot
from ..state.base import StateStore
from ..state.program import Program, arun, run
from ..targets import Target
from ..telemetry.observer import Observer
from ..types import ChatRequest, ChatResponse, RequestContext, Usage
from .compare import Side, append_pair, count_steps, pair_record, save_pair_steps
from .hashing import unit

if TYPE_CHECKING:
    import asyncio

    from ..execution.limits import Limiter
    from ..state.aio.base import AsyncStateStore

__all__ = ["AsyncShadowRunner", "ShadowJob", "ShadowPlanner", "ShadowRunner", "sampled"]

log = logging.getLogger("router.migration")


def sampled(route: str, decision_id: str, sample_pct: float) -> bool:
    """Whether a request is shadowed: deterministic in the decision (hence request) id."""
    return unit("shadow", route, decision_id) * 100.0 < sample_pct


def _refused_for_route(decision: Decision, model: str) -> bool:
    """Whether the primary Decision refused the shadow target.

    The policy plans a route's shadow with this request's own facts (route
    included) and lists it in ``decision.shadow`` only when admitted, so a
    route-scoped rule that a decision asked for the shadow model by name
    would not match still keeps the copy home.
    """
    return all(t.name != model for t in decision.shadow)


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """What a shadow needs from its primary, copied when the primary answered."""

    route: str
    config: ShadowConfig
    route_config: RouteConfig
    request: ChatRequest
    context: RequestContext
    decision_id: str
    primary: Side
    primary_text: str
    budgets: tuple[tuple[str, BudgetEffect], ...] = ()
    """The primary Decision's budgets: matched with the route's facts, they apply to its copy."""


class _Sync(Protocol):
    observer: Observer

    def complete(self, call: Call) -> tuple[ChatResponse, Target]: ...


class _Async(Protocol):
    observer: Observer

    async def complete(self, call: Call) -> tuple[ChatResponse, Target]: ...


class ShadowPlanner:
    """The decisions and bookkeeping of shadows, shared by sync and async runners."""

    def __init__(
        self,
        policy: Policy,
        store: Callable[[], StateStore],
        clock: Callable[[], float],
        fill_usage: Callable[[ChatRequest, ChatResponse], Usage],
        *,
        budget: Callable[[], BudgetGate],
        limiter: Callable[[], Limiter] | None = None,
    ) -> None:
        self.policy = policy
        self._store = store
        self._clock = clock
        self._fill_usage = fill_usage
        self._budget = budget
        self._limiter = limiter

    @property
    def store(self) -> StateStore:
        """The state store in use (read at each use, so a replaced store is honoured)."""
        return self._store()

    # Every method that counts or spends is a store program
    # (router.state.program): ShadowRunner runs it on the router's sync store,
    # AsyncShadowRunner awaits it on its async one.

    def job_steps(
        self, call: Call, response: ChatResponse, target: Target
    ) -> Program[ShadowJob | None]:
        """The shadow job for an answered call, or None when it is not shadowed."""
        cfg = call.route.shadow
        route = call.decision.route
        if cfg is None or not sampled(route, call.decision.id, cfg.sample_pct):
            return None
        yield from count_steps(route, cfg.model, "sampled")
        if target.name == cfg.model:
            yield from count_steps(route, cfg.model, "skipped_same_target")
            return None
        if _refused_for_route(call.decision, cfg.model):
            yield from count_steps(route, cfg.model, "refused")
            return None
        ok = [a for a in call.walker.attempts if a.outcome == "ok"]
        latency = ok[-1].latency_s if ok else 0.0
        return ShadowJob(
            route=route,
            config=cfg,
            route_config=call.route,
            request=call.request,
            context=call.context,
            decision_id=call.decision.id,
            primary=Side.of(response, target, latency),
            primary_text=response.content or "",
            budgets=call.decision.budgets,
        )

    def dropped_steps(self, job: ShadowJob) -> Program[None]:
        """The runner was saturated: count the lost copy."""
        yield from count_steps(job.route, job.config.model, "dropped")

    def prepare_steps(self, job: ShadowJob) -> Program[Call | None]:
        """A Call for the shadow if the policy admits its target for this request."""
        model = job.config.model
        snap = Snapshot(now=self._clock(), request_id=f"{job.decision_id}:shadow")
        try:
            decision = self.policy.decide(job.request, job.context, snap, model=model)
        except NoEligibleTarget:
            yield from count_steps(job.route, model, "refused")
            return None
        # Only the shadow target itself, never a fallback: a shadow that
        # answered from elsewhere would compare nothing.
        plan = tuple(t for t in decision.plan if t.name == model)
        if not plan:
            yield from count_steps(job.route, model, "refused")
            return None
        note = f"shadow: a copy of decision {job.decision_id} (route {job.route}); never returned"
        decision = replace(decision, plan=plan, fallback=False, notes=(*decision.notes, note))
        request = cap_output_tokens(job.request, None, decision.limits.max_output_tokens)
        # Every budget of the request applies to its copy: the primary's
        # (matched with the route's facts) and the shadow decision's own. The
        # copy is keyed as the request it copies (a ``key: route`` budget
        # counts it under the primary's route); its own route name is kept
        # for the ledger, audit and spans.
        budgets = tuple(dict.fromkeys((*job.budgets, *decision.budgets)))
        # A copy takes its target's rate limits (the provider counts it) but not the
        # rules' per-tenant ones (the tenant made one call, not two); with its budget
        # hold, in one store operation, as a call does.
        limits = None
        if self._limiter is not None:
            limits = self._limiter().for_call(
                replace(decision, rate_limits=()), request, job.context
            )
        try:
            request, charged, hold = yield from self._budget().admit_steps(
                request, job.context, replace(decision, route=job.route, budgets=budgets), limits
            )
        except (BudgetExceeded, StateUnavailable):
            # No budget room, or no way to know (the state store is unreachable).
            yield from count_steps(job.route, model, "refused_budget")
            log.info("shadow %s for route %s refused by budget", model, job.route)
            return None
        decision = replace(charged, route=decision.route)
        route = RouteConfig(candidates=(model,), deadline_s=job.route_config.deadline_s)
        walker = Walker(decision, route, deadline_s=job.context.deadline_s, limits=limits)
        extra = {"shadow_of": job.decision_id, EXTRA_KEY: hold}
        return Call(request, job.context, decision, route, walker, extra=extra)

    def release_steps(self, call: Call) -> Program[None]:
        """Free the budget hold and in-flight slots a shadow still has (it failed or
        crashed before settling); after a settled one there is nothing left to free."""
        try:
            yield from call.walker.abandoned_steps()
            yield from self._budget().abandon_steps(call)
        except Exception:  # the hold expires on its own; the runner must go on
            log.warning("could not release the budget hold of a shadow", exc_info=True)

    def failed_steps(self, job: ShadowJob, error: BaseException) -> Program[None]:
        """The shadow got no answer: count it (the caller never sees it)."""
        yield from count_steps(job.route, job.config.model, "shadow_errors")
        log.info(
            "shadow %s for route %s failed: %s", job.config.model, job.route, type(error).__name__
        )

    def done_steps(
        self, job: ShadowJob, call: Call, response: ChatResponse, target: Target
    ) -> Program[dict[str, Any]]:
        """Compare the shadow's answer with the primary's and count the evidence.

        Returns the pair record; the runner appends it to the route's shadow
        log (file I/O, done off the event loop by the async runner).
        """
        if response.usage is None:
            response.usage = self._fill_usage(call.request, response)
        yield from call.walker.settle_limits_steps(response.usage)
        # Money first: the copy was paid for whatever the comparison does.
        yield from self._budget().settle_steps(call, response, target)
        ok = [a for a in call.walker.attempts if a.outcome == "ok"]
        side = Side.of(response, target, ok[-1].latency_s if ok else 0.0)
        # The same route facts a primary response carries, for the observers
        # (tracing, audit) that see the shadow's request end.
        response.route = call.route_info(target, response.usage)
        rec = pair_record(
            job.route,
            job.decision_id,
            self._clock(),
            job.primary,
            side,
            job.primary_text,
            response.content or "",
        )
        yield from save_pair_steps(rec)
        return rec


def _pool_size(routes: dict[str, RouteConfig]) -> int:
    return max(1, sum(r.shadow.max_concurrency for r in routes.values() if r.shadow is not None))


class ShadowRunner:
    """Runs shadows for :class:`~router.Router` on a small bounded thread pool."""

    def __init__(self, planner: ShadowPlanner, executor: _Sync, routes: dict[str, RouteConfig]):
        self._planner = planner
        self._executor = executor
        self._size = _pool_size(routes)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._closed = False

    def submit(self, job: ShadowJob) -> bool:
        """Schedule a shadow job; False when the route's shadows are saturated (or closed)."""
        with self._lock:
            if self._closed or self._inflight.get(job.route, 0) >= job.config.max_concurrency:
                busy = True
            else:
                busy = False
                self._inflight[job.route] = self._inflight.get(job.route, 0) + 1
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._size, thread_name_prefix="llm-shadow")
                pool = self._pool
        if busy:
            return False
        pool.submit(self._run, job)
        return True

    def _run(self, job: ShadowJob) -> None:
        call: Call | None = None
        planner, store = self._planner, self._planner.store
        try:
            call = run(planner.prepare_steps(job), store)
            if call is None:
                return
            obs = self._executor.observer
            obs.request_started(call)
            try:
                response, target = self._executor.complete(call)
            except Exception as e:
                run(planner.failed_steps(job, e), store)
                obs.request_ended(call, error=e)
                return
            rec = run(planner.done_steps(job, call, response, target), store)
            if job.config.log:
                append_pair(rec, job.config.log)
            obs.request_ended(call, response=response)
        except Exception:  # a shadow must never break anything: log and move on
            log.exception("shadow for route %s crashed", job.route)
        finally:
            if call is not None:
                run(planner.release_steps(call), store)
            with self._lock:
                self._inflight[job.route] -= 1

    def close(self, wait: bool = True) -> None:
        """Stop taking shadows; with ``wait``, let the ones in flight finish."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)


class AsyncShadowRunner:
    """Runs shadows for :class:`~router.AsyncRouter` as asyncio tasks."""

    def __init__(
        self, planner: ShadowPlanner, executor: _Async, store: Callable[[], AsyncStateStore]
    ) -> None:
        self._planner = planner
        self._executor = executor
        self._store = store
        self._log_writer: ThreadPoolExecutor | None = None
        """Appends pairs to shadow logs off the loop; started at the first, joined by aclose."""
        self._inflight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def submit(self, job: ShadowJob) -> bool:
        """Schedule a shadow job (inside the running loop); False when saturated or closed."""
        # Counted synchronously, so a burst of submits before any task has
        # started still respects the bound.
        if self._closed or self._inflight.get(job.route, 0) >= job.config.max_concurrency:
            return False
        self._inflight[job.route] = self._inflight.get(job.route, 0) + 1
        import asyncio  # only an AsyncRouter gets here; a blocking one never loads it

        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, job: ShadowJob) -> None:
        import asyncio

        call: Call | None = None
        planner, store = self._planner, self._store()
        try:
            call = await arun(planner.prepare_steps(job), store)
            if call is None:
                return
            obs = self._executor.observer
            obs.request_started(call)
            try:
                response, target = await self._executor.complete(call)
            except Exception as e:
                await arun(planner.failed_steps(job, e), store)
                obs.request_ended(call, error=e)
                return
            rec = await arun(planner.done_steps(job, call, response, target), store)
            if job.config.log:
                if self._log_writer is None:
                    self._log_writer = ThreadPoolExecutor(1, thread_name_prefix="llm-shadow-log")
                write = self._log_writer.submit(append_pair, rec, job.config.log)
                await asyncio.wrap_future(write)
            obs.request_ended(call, response=response)
        except Exception:
            log.exception("shadow for route %s crashed", job.route)
        finally:
            try:
                if call is not None:
                    await arun(planner.release_steps(call), store)
            finally:
                self._inflight[job.route] -= 1

    async def join(self) -> None:
        """Wait for the shadows in flight."""
        while self._tasks:
            import asyncio

            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop taking shadows and let the ones in flight finish."""
        self._closed = True
        await self.join()
        writer, self._log_writer = self._log_writer, None
        if writer is not None:
            writer.shutdown(wait=True)  # idle: every task that wrote has finished
