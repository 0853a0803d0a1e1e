"""The facade: :class:`Router` and :class:`AsyncRouter`.

Both share :class:`_Core`, which does everything that is not I/O — validate
the call, take a snapshot, decide, and finish the response with its route
and cost. They differ only in the executor that performs the network steps.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict, TypeVar, Unpack

from pydantic import ValidationError

from .accounting.budget import EXTRA_KEY, BudgetGate, budget_key_value, cap_output_tokens
from .cache import EXTRA_KEY as CACHE_KEY
from .config import Config, load_config, load_dict, load_file
from .config.schema import CacheConfig
from .credentials import scrub_error
from .errors import (
    NoEligibleTarget,
    ProviderError,
    RouterError,
    StreamConsumed,
    StreamInterrupted,
    request_error,
)
from .execution.breaker import Breakers
from .execution.health import Health
from .ids import new_id
from .migration import record_outcome_steps, route_traffic_steps
from .policy import Decision, Policy, Snapshot
from .state import open_store
from .state.program import Program, arun, run
from .targets import Target
from .telemetry import observer_for
from .telemetry.audit_writer import AuditHold, awaits_audit
from .types import (
    PARAM_NAMES,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Message,
    RequestContext,
    Usage,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from .cache import Hit, Lookup
    from .embeddings.types import EmbeddingResponse
    from .execution.call import Call
    from .execution.executor import AsyncExecutor, Executor, Opened
    from .execution.limits import Limiter
    from .execution.walker import Walker
    from .migration.shadow import AsyncShadowRunner, ShadowJob, ShadowPlanner, ShadowRunner
    from .state import AsyncStateStore, StateStore

__all__ = ["AsyncRouter", "AsyncRouterOptions", "AsyncStream", "Router", "RouterOptions", "Stream"]

MessagesIn = Sequence[Message | Mapping[str, Any]]
ContextIn = RequestContext | Mapping[str, Any] | None
EmbedIn = str | Sequence[str]


def _embed_params(
    dimensions: int | None, encoding_format: str | None, user: str | None
) -> dict[str, Any]:
    given = {"dimensions": dimensions, "encoding_format": encoding_format, "user": user}
    return {k: v for k, v in given.items() if v is not None}


class _CommonOptions(TypedDict, total=False):
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    clock: Callable[[], float] | None


class RouterOptions(_CommonOptions, total=False):
    """The keyword arguments of :class:`Router` (and ``from_file`` / ``from_dict``)."""

    store: StateStore | None


class AsyncRouterOptions(_CommonOptions, total=False):
    """The keyword arguments of :class:`AsyncRouter` (and ``from_file`` / ``from_dict``)."""

    store: StateStore | AsyncStateStore | None
    transport_factory: Any


# The network side (executors, plan walker, adapters) loads at a router's first
# call, not at ``import router`` or construction (docs/performance.md).
_walk: tuple[type[Walker], type[Call]] | None = None
_executor_lock = threading.Lock()
_limiter_lock = threading.Lock()  # taken inside _executor_lock: the executor wires the limiter


_E = TypeVar("_E")


def _once(router: Any, build: Callable[[], _E]) -> _E:
    """``router._ex``, built at the first call (or when a shadow needs it), once."""
    ex: _E | None = router._ex
    if ex is None:
        with _executor_lock:
            ex = router._ex
            if ex is None:
                ex = router._ex = build()
    return ex


def _walk_types() -> tuple[type[Walker], type[Call]]:
    global _walk
    if _walk is None:
        from .execution.call import Call
        from .execution.walker import Walker

        _walk = (Walker, Call)
    return _walk


def _async_view(core: _Core) -> AsyncStateStore:
    """The async store for an AsyncRouter built on ``core``'s sync one (the router closes it)."""
    from .state.aio import AsyncMemoryStore, open_async_store
    from .state.memory import MemoryStore

    store = core.store
    if isinstance(store, MemoryStore):
        return AsyncMemoryStore(store)  # the same dicts: explain() and .store see them
    if core.owns_store:
        return open_async_store(core.config.state)
    from .state.aio.thread import AsyncThreadStore

    return AsyncThreadStore(store)


class _Core:
    """Everything a call needs that is not network I/O, shared by sync and async."""

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str],
        **options: Unpack[RouterOptions],
    ) -> None:
        store, clock = options.get("store"), options.get("clock")
        self.config = load_config(config)
        self.policy = Policy(self.config)
        self.clock: Callable[[], float] = clock or time.time
        """Wall clock of snapshots (ramps, guard windows), breakers and budgets."""
        self.store = open_store(self.config.state) if store is None else store
        self.owns_store = store is None
        """Whether the router opened its store (and so closes it); a passed one is the caller's."""
        self.budget = BudgetGate(self.store, clock=self.clock)
        self.breakers = Breakers(self.store, self.clock)
        self.health = Health(self.store, self.breakers)
        self._limiter: Limiter | None = None
        found = {s for t in self.policy.targets.values() for s in t.secrets}
        if self.config.telemetry.audit_key is not None:
            found.add(self.config.telemetry.audit_key.get_secret_value())
        self.secrets = tuple(sorted(found, key=lambda s: (-len(s), s)))
        """Every configured secret of every provider, longest first."""
        self.observer = observer_for(
            self.config,
            self.secrets,
            tracer_provider=options.get("tracer_provider"),
            meter_provider=options.get("meter_provider"),
        )
        self._target_names = tuple(self.policy.targets)
        self._with_breaker = tuple(
            n for n, t in self.policy.targets.items() if t.provider_config.breaker is not None
        )
        self.shadow_planner: ShadowPlanner | None = None
        """Set only when a route has a shadow: the shadow machinery loads on demand."""
        if any(r.shadow is not None for r in self.config.routes.values()):
            from .migration.shadow import ShadowPlanner

            self.shadow_planner = ShadowPlanner(
                self.policy,
                lambda: self.store,
                lambda: self.clock(),
                self._estimate_usage,
                budget=lambda: self.budget,
                limiter=lambda: self.limiter,
            )
        self.shadows: Callable[[ShadowJob], bool] | None = None
        """The runner's ``submit``: schedules a shadow job, False when saturated."""
        self.cache_policy = ""
        """The policy hash response-cache keys carry (set only when a route caches)."""
        self.cache_memory: StateStore | None = None
        """The process's own cache store, for routes with ``cache: {store: memory}``."""
        caches = [r.cache for r in self.config.routes.values() if r.cache is not None]
        if caches:
            from .telemetry.audit import policy_hash

            self.cache_policy = policy_hash(self.config)
        if any(c.store == "memory" for c in caches):
            from .state.memory import MemoryStore

            self.cache_memory = MemoryStore()

    @property
    def limiter(self) -> Limiter:
        """Rate limits, in-flight limits and the targets provider headers mark limited.

        Built at the first call, so ``execution.limits`` is not loaded by building
        a router (docs/performance.md); the lock makes racing first calls share one.
        """
        limiter = self._limiter
        if limiter is None:
            with _limiter_lock:
                limiter = self._limiter
                if limiter is None:
                    from .execution.limits import Limiter

                    limiter = self._limiter = Limiter(
                        self.config, self.policy.targets, budget_key_value, self.clock
                    )
        return limiter

    def request(self, messages: MessagesIn, params: Mapping[str, Any]) -> ChatRequest:
        unknown = set(params) - PARAM_NAMES
        if unknown:
            raise TypeError(
                f"unknown chat parameter(s): {', '.join(sorted(unknown))}; "
                f"supported: {', '.join(sorted(PARAM_NAMES))}"
            )
        if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
            raise TypeError("messages must be a list of message dicts or router.Message")
        try:
            return ChatRequest(messages=list(messages), **params)  # type: ignore[arg-type]
        except ValidationError as e:
            raise request_error(e) from None

    @staticmethod
    def context(context: ContextIn) -> RequestContext:
        if context is None:
            return RequestContext()
        if isinstance(context, RequestContext):
            return context
        try:
            return RequestContext.model_validate(context)
        except ValidationError as e:
            raise request_error(e, "context") from None

    # Each step of a call that reads or writes shared state is a store program
    # (router.state.program): Router runs it on its sync store, AsyncRouter
    # awaits it on its async one. The plain methods are the sync form.

    def snapshot_steps(self) -> Program[Snapshot]:
        latency = yield from self.health.latency_steps(self._target_names)
        unavailable = yield from self.health.unavailable_steps(self._with_breaker)
        limited = yield from self.limiter.marks_steps()
        return Snapshot(
            now=self.clock(),
            request_id=new_id(),
            latency_ms=latency,
            unavailable=unavailable,
            rate_limited=limited,
        )

    def decide_steps(
        self, request: ChatRequest, ctx: RequestContext, model: str
    ) -> Program[Decision]:
        snap = yield from self.snapshot_steps()
        decision = self.policy.decide(request, ctx, snap, model=model)
        route = self.config.routes.get(decision.route)
        return (yield from route_traffic_steps(decision, route, ctx, snap))

    def decide(
        self, messages: MessagesIn, model: str, context: ContextIn, params: Mapping[str, Any]
    ) -> tuple[ChatRequest, RequestContext, Decision]:
        request, ctx = self.request(messages, params), self.context(context)
        return request, ctx, run(self.decide_steps(request, ctx, model), self.store)

    def start_steps(
        self, request: ChatRequest, ctx: RequestContext, model: str, *, stream: bool = False
    ) -> Program[Call]:
        """Decide and set up the walk of a validated request; nothing is sent yet."""
        try:
            decision = yield from self.decide_steps(request, ctx, model)
            route = self.policy.route_for(model)[1]
            request = cap_output_tokens(
                request, route.max_tokens, decision.limits.max_output_tokens
            )
            lookup = None
            if decision.cache and route.cache is not None:
                lookup = yield from self.cache_lookup_steps(request, ctx, decision, route.cache)
            hold = None
            limits = self.limiter.for_call(decision, request, ctx)
            if lookup is None or lookup.hit is None:  # a hit costs nothing: no hold
                # Budgets may refuse (BudgetExceeded) or narrow the plan to a subset; a
                # hold also takes the first try's limits (one store operation).
                request, decision, hold = yield from self.budget.admit_steps(
                    request, ctx, decision, limits
                )
        except NoEligibleTarget as e:
            self.observer.request_denied(model, ctx, e)
            raise
        walker_type, call_type = _walk or _walk_types()
        walker = walker_type(
            decision,
            route,
            deadline_s=ctx.deadline_s,
            breakers=self.breakers,
            health=self.health,
            limits=limits,
        )
        call = call_type(request, ctx, decision, route, walker, stream=stream)
        if hold is not None:
            call.extra[EXTRA_KEY] = hold
        if lookup is not None:
            call.extra[CACHE_KEY] = lookup
        self.observer.request_started(call)
        return call

    def cache_lookup_steps(
        self, request: ChatRequest, ctx: RequestContext, decision: Decision, cache: CacheConfig
    ) -> Program[Lookup | None]:
        """Look the request up in its route's response cache; ``None``: it has no key."""
        from .cache import Lookup, digest, lookup_steps  # routes with a cache only

        key = digest(
            self.cache_policy,
            ctx.tenant,
            decision.route,
            request,
            ignore_temperature=cache.ignore_temperature,
        )
        if key is None:
            return None
        steps = lookup_steps(key, decision.plan, self.clock())
        if cache.store == "memory":  # the process's own dicts: nothing to wait for
            return Lookup(key, run(steps, self.cache_memory))
        return Lookup(key, (yield from steps))

    def explain_cache(
        self, request: ChatRequest, ctx: RequestContext, decision: Decision, model: str
    ) -> Decision:
        """``decision`` with its cache note saying what the cache holds for this request."""
        route = self.policy.route_for(model)[1]
        if not decision.cache or route.cache is None:
            return decision
        capped = cap_output_tokens(request, route.max_tokens, decision.limits.max_output_tokens)
        lookup = run(self.cache_lookup_steps(capped, ctx, decision, route.cache), self.store)
        if lookup is None:
            note = "; this request has no key (a parameter has no canonical JSON form)"
        elif lookup.hit is not None:
            note = f"; a cached answer from {lookup.hit.target.name} would be served"
        else:
            note = "; nothing cached for this request yet"
        return dataclasses.replace(decision, cache_note=decision.cache_note + note)

    @staticmethod
    def cached(call: Call) -> Hit | None:
        """The cached answer a started call is served from, if any (nothing is sent)."""
        lookup: Lookup | None = call.extra.get(CACHE_KEY)
        return None if lookup is None else lookup.hit

    def start(
        self,
        messages: MessagesIn,
        model: str,
        context: ContextIn,
        params: Mapping[str, Any],
        *,
        stream: bool = False,
    ) -> Call:
        """Validate, decide and set up the walk on the sync store; nothing is sent yet."""
        request, ctx = self.request(messages, params), self.context(context)
        return run(self.start_steps(request, ctx, model, stream=stream), self.store)

    def close_store(self) -> None:
        """Close the state store if the router opened it (its connections or file)."""
        if self.owns_store:
            self.store.close()

    def fail_steps(self, call: Call, error: BaseException) -> Program[None]:
        """The call ended without a response."""
        if isinstance(error, RouterError):  # whatever target's secret it holds
            scrub_error(error, self.secrets)
        try:
            yield from call.walker.abandoned_steps()
            yield from self.budget.abandon_steps(call)
            yield from record_outcome_steps(call, self.clock())
        finally:
            self.observer.request_ended(call, error=error)

    def fail(self, call: Call, error: BaseException) -> None:
        run(self.fail_steps(call, error), self.store)

    def finish(self, call: Call, response: ChatResponse, target: Target) -> ChatResponse:
        return run(self.finish_steps(call, response, target), self.store)

    def finish_steps(
        self, call: Call, response: ChatResponse, target: Target
    ) -> Program[ChatResponse]:
        lookup: Lookup | None = call.extra.get(CACHE_KEY)
        if lookup is not None and lookup.hit is not None:
            return (yield from self._hit_steps(call, response, target))
        yield from call.walker.completed_steps()
        usage = response.usage
        if usage is None:
            usage = self._estimate_usage(call.request, response, target)
        response.usage = usage
        yield from call.walker.settle_limits_steps(usage)
        response.route = call.route_info(target, usage, None if lookup is None else "miss")
        yield from self.budget.settle_steps(call, response, target)
        yield from record_outcome_steps(call, self.clock())
        if lookup is not None and call.route.cache is not None:
            # Only a whole answer gets here: errors and cut streams end in fail_steps.
            from .cache import store_steps

            cache = call.route.cache
            steps = store_steps(
                call.decision.route, cache, lookup.digest, target, response, self.clock()
            )
            if cache.store == "memory":
                run(steps, self.cache_memory)
            else:
                yield from steps
        self.observer.request_ended(call, response=response)
        if self.shadows is not None and self.shadow_planner is not None:
            job = yield from self.shadow_planner.job_steps(call, response, target)
            if job is not None and not self.shadows(job):
                yield from self.shadow_planner.dropped_steps(job)
        return response

    def _hit_steps(
        self, call: Call, response: ChatResponse, target: Target
    ) -> Program[ChatResponse]:
        """Finish a call served from the cache: no walk, no hold, cost zero, recorded as a hit."""
        response.route = call.route_info(target, None)
        yield from self.budget.record_hit_steps(call, target)
        self.observer.request_ended(call, response=response)
        return response

    def _estimate_usage(
        self, request: ChatRequest, response: ChatResponse, target: Target | None = None
    ) -> Usage:
        # No usage reported: commit an upper bound (never the chars/4 guess), flagged estimated.
        return self.budget.usage_bound(request, response, target)

    def interrupted_steps(
        self, call: Call, err: ProviderError, text: str
    ) -> Program[StreamInterrupted]:
        yield from call.walker.interrupted_steps(err)
        return StreamInterrupted(
            f"stream interrupted after content was delivered: {err}",
            text=text,
            status=err.status,
            code=err.code,
            target=err.target,
            provider=err.provider,
            attempts=list(call.walker.attempts),
        )


class _Facade:
    _core: _Core

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str],
        **options: Unpack[RouterOptions],
    ) -> None:
        raise NotImplementedError

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **options: Unpack[RouterOptions]) -> Self:
        """A router from a YAML config file; every config problem at file:line.

        ``options``: the constructor's keyword arguments.
        """
        from .config.loader import construct

        return construct(lambda c: cls(c, **options), load_file(path), str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **options: Unpack[RouterOptions]) -> Self:
        """A router from a config given as plain data; every config problem at once.

        ``options``: the constructor's keyword arguments.
        """
        from .config.loader import construct

        return construct(lambda c: cls(c, **options), load_dict(data))

    @property
    def config(self) -> Config:
        """The validated configuration."""
        return self._core.config

    @property
    def budget(self) -> BudgetGate:
        """Ceilings, budget reservations and the ledger (set ``.counter`` for exact tokens)."""
        return self._core.budget

    @property
    def store(self) -> StateStore:
        """The state store: budgets, ledger, breakers, migration statistics.

        The one passed as ``store=``, else the one ``config.state`` names.
        """
        return self._core.store

    def explain(
        self,
        messages: MessagesIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        **params: Any,
    ) -> Decision:
        """The Decision this call would get, without sending anything.

        When the route's response cache applies, ``cache_note`` also says
        whether a cached answer would be served (read from :attr:`store`).
        """
        core = self._core
        request, ctx, decision = core.decide(messages, model, context, params)
        return core.explain_cache(request, ctx, decision, model)

    def explain_embed(
        self,
        input: EmbedIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        user: str | None = None,
    ) -> Decision:
        """The Decision ``embed`` would get for these inputs, without sending anything."""
        from .embeddings.flow import decide

        params = _embed_params(dimensions, encoding_format, user)
        return decide(self._core, input, model, context, params)[3]


class Router(_Facade):
    """The blocking client.

    >>> with Router.from_file("router.yaml") as r:  # doctest: +SKIP
    ...     r.chat([{"role": "user", "content": "Hi"}], model="support-bot").content
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str],
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """A router for ``config`` (a :class:`Config`, a dict or a YAML file's path).

        ``tracer_provider`` / ``meter_provider``: the OpenTelemetry providers
        spans and metrics go to (default: the global ones); ignored when
        ``telemetry.enabled`` is false. ``store``: a
        :class:`~router.state.StateStore` to use instead of the one
        ``config.state`` names (to share one between routers, or to read it;
        the router does not close it). ``clock``: the wall clock, in epoch
        seconds, of ramps, guard windows, breakers and budget windows
        (default :func:`time.time`; for tests and simulations).
        """
        self._core = _Core(
            config,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            store=store,
            clock=clock,
        )
        self._ex: Executor | None = None
        self._shadows: ShadowRunner | None = None
        if self._core.shadow_planner is not None:
            from .migration.shadow import ShadowRunner

            self._shadows = ShadowRunner(
                self._core.shadow_planner, self._executor, dict(self._core.config.routes)
            )
            self._core.shadows = self._shadows.submit

    @property
    def _executor(self) -> Executor:
        def build() -> Executor:
            from .execution.executor import Executor

            ex = Executor(self._core.observer, self._core.store)
            ex.http.on_headers = self._core.limiter.observe
            return ex

        return _once(self, build)

    def chat(
        self,
        messages: MessagesIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        **params: Any,
    ) -> ChatResponse:
        """Route one chat request and return the completion (with ``.route``)."""
        call = self._core.start(messages, model, context, params)
        hit = self._core.cached(call)
        if hit is not None:
            return self._core.finish(call, hit.response, hit.target)
        try:
            response, target = self._executor.complete(call)
        except BaseException as e:
            self._core.fail(call, e)
            raise
        return self._core.finish(call, response, target)

    def embed(
        self,
        input: EmbedIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        user: str | None = None,
    ) -> EmbeddingResponse:
        """Embed one string or a list of them under the policy (``.data[i].embedding``,
        in input order, with ``.route``); ``model`` names a route of embedding models."""
        from .embeddings import flow

        params = _embed_params(dimensions, encoding_format, user)
        core = self._core
        call = run(flow.start_steps(core, input, model, context, params), core.store)
        ex = self._executor
        attempt = flow.attempt(call, flow.sender(ex))
        try:
            batch, step = ex._walk(call, attempt, None)
        except BaseException as e:
            core.fail(call, e)
            raise
        return run(flow.finish_steps(core, call, batch, step.target), core.store)

    def stream(
        self,
        messages: MessagesIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        **params: Any,
    ) -> Stream:
        """Route one chat request and stream it: ``with r.stream(...) as s: for c in s``."""
        return Stream(self, self._core.start(messages, model, context, params, stream=True))

    def close(self) -> None:
        """Let shadows in flight finish, close pooled connections, flush the audit log."""
        if self._shadows is not None:
            self._shadows.close()
        try:
            if self._ex is not None:
                self._ex.close()
        finally:
            try:
                self._core.observer.close()
            finally:
                self._core.close_store()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRouter(_Facade):
    """The asyncio client; same calls as :class:`Router`, awaited."""

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str],
        *,
        transport_factory: Any = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        store: StateStore | AsyncStateStore | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``transport_factory``: ``None`` (httpx's own pool, the default), ``"aiohttp"``
        (needs ``httpx-aiohttp``; about 11x the requests per second at 64 in flight),
        ``"auto"`` (aiohttp when ``httpx-aiohttp`` is installed, else httpx's pool),
        or a callable ``(Target) -> httpx.AsyncBaseTransport``. docs/performance.md
        says why the default stays httpx's pool.

        Every read and write of shared state on a call's path (breakers,
        health, budgets, ledger, migration guards) is awaited on an async
        store, never run on the event loop: by default the one
        :func:`~router.state.open_async_store` opens for ``config.state``.
        ``store`` may be an :class:`~router.state.AsyncStateStore` (used as
        is) or a sync :class:`~router.state.StateStore` (a ``MemoryStore`` is
        used inline; any other runs on a worker thread). The other arguments
        are :class:`Router`'s."""
        if transport_factory == "auto":
            from .execution.transports import aiohttp_available

            transport_factory = "aiohttp" if aiohttp_available() else None
        if transport_factory == "aiohttp":
            from .execution.transports import aiohttp_transport

            transport_factory = aiohttp_transport
        elif transport_factory is not None and not callable(transport_factory):
            raise TypeError(
                "transport_factory must be None, 'aiohttp', 'auto' or a callable(target)"
            )
        from .state.aio import AsyncMemoryStore, AsyncStateStore

        passed_async = isinstance(store, AsyncStateStore)
        sync_store = store.store if isinstance(store, AsyncMemoryStore) else store
        self._core = _Core(
            config,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            store=None if isinstance(sync_store, AsyncStateStore) else sync_store,
            clock=clock,
        )
        self._astore_obj: AsyncStateStore | None = (
            store if isinstance(store, AsyncStateStore) else None
        )
        self._owns_astore = not passed_async
        self._transport_factory = transport_factory
        self._ex: AsyncExecutor | None = None
        self._shadows: AsyncShadowRunner | None = None
        if self._core.shadow_planner is not None:
            from .migration.shadow import AsyncShadowRunner

            self._shadows = AsyncShadowRunner(
                self._core.shadow_planner, self._executor, lambda: self._astore
            )
            self._core.shadows = self._shadows.submit

    @property
    def async_store(self) -> AsyncStateStore:
        """The async state store every call's state steps are awaited on.

        The one passed as ``store=`` (a sync one seen through an async view),
        else the one ``config.state`` names; :attr:`store` is its sync
        counterpart (for ``explain`` and reading from sync code).
        """
        return self._astore

    @property
    def _astore(self) -> AsyncStateStore:
        """The store every call's state steps are awaited on (reopened after ``aclose``)."""
        s = self._astore_obj
        if s is None:
            s = self._astore_obj = _async_view(self._core)
            if self._ex is not None:
                self._ex.store = s
        return s

    @property
    def _executor(self) -> AsyncExecutor:
        def build() -> AsyncExecutor:
            from .execution.executor import AsyncExecutor

            ex = AsyncExecutor(self._core.observer, self._transport_factory, self._astore)
            ex.http.on_headers = self._core.limiter.observe
            return ex

        return _once(self, build)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **options: Unpack[AsyncRouterOptions]) -> Self:
        """A router from a YAML config file; every config problem at file:line.

        ``options``: the constructor's keyword arguments.
        """
        from .config.loader import construct

        return construct(lambda c: cls(c, **options), load_file(path), str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **options: Unpack[AsyncRouterOptions]) -> Self:
        """A router from a config given as plain data; every config problem at once.

        ``options``: the constructor's keyword arguments.
        """
        from .config.loader import construct

        return construct(lambda c: cls(c, **options), load_dict(data))

    @awaits_audit  # its audit record is queued with put_async: a full queue waits, off the loop
    async def chat(
        self,
        messages: MessagesIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        **params: Any,
    ) -> ChatResponse:
        """Route one chat request and return the completion (with ``.route``)."""
        core, astore = self._core, self._astore
        request, ctx = core.request(messages, params), core.context(context)
        call = await arun(core.start_steps(request, ctx, model), astore)
        hit = core.cached(call)
        if hit is not None:
            return await arun(core.finish_steps(call, hit.response, hit.target), astore)
        try:
            response, target = await self._executor.complete(call)
        except BaseException as e:
            await arun(core.fail_steps(call, e), astore)
            raise
        return await arun(core.finish_steps(call, response, target), astore)

    @awaits_audit
    async def embed(
        self,
        input: EmbedIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        user: str | None = None,
    ) -> EmbeddingResponse:
        """Embed one string or a list of them under the policy; see :meth:`Router.embed`."""
        from .embeddings import flow

        params = _embed_params(dimensions, encoding_format, user)
        core, astore = self._core, self._astore
        call = await arun(flow.start_steps(core, input, model, context, params), astore)
        ex = self._executor
        try:
            batch, step = await ex._walk(
                call, flow.async_attempt(call, flow.async_sender(ex)), None
            )
        except BaseException as e:
            await arun(core.fail_steps(call, e), astore)
            raise
        return await arun(flow.finish_steps(core, call, batch, step.target), astore)

    def stream(
        self,
        messages: MessagesIn,
        *,
        model: str = "default",
        context: ContextIn = None,
        **params: Any,
    ) -> AsyncStream:
        """Route and stream: ``async with r.stream(...) as s: async for c in s``.

        The request is validated here; the policy decides (and budgets
        reserve) when the stream is entered, since that reads shared state.
        """
        core = self._core
        request, ctx = core.request(messages, params), core.context(context)
        return AsyncStream(self, core.start_steps(request, ctx, model, stream=True))

    async def aclose(self) -> None:
        """Let shadows in flight finish, close pooled connections, flush the audit log."""
        if self._shadows is not None:
            await self._shadows.aclose()
        try:
            if self._ex is not None:
                await self._ex.aclose()
        finally:
            try:
                await self._core.observer.aclose()
            finally:
                try:
                    owned, self._astore_obj = self._astore_obj, None
                    if owned is not None and self._owns_astore:
                        await owned.aclose()
                    elif not self._owns_astore:
                        self._astore_obj = owned  # the caller's: theirs to close
                finally:
                    self._core.close_store()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _StreamBase:
    """State shared by the sync and async streams: assembly and the final response."""

    def __init__(self, core: _Core, call: Call | None) -> None:
        self._core = core
        self._pending = call
        from .assemble import Assembler  # streams only

        self._asm = Assembler()
        self._opened: Opened | None = None
        self._response: ChatResponse | None = None
        self._ended = False
        self._read = False

    @property
    def _call(self) -> Call:
        if self._pending is None:
            raise RuntimeError("an async stream decides when it is entered: use `async with`")
        return self._pending

    @property
    def decision(self) -> Decision:
        """The policy decision behind this stream."""
        return self._call.decision

    @property
    def cache(self) -> Literal["hit", "miss"] | None:
        """``hit`` when this stream replays a cached answer (nothing is sent), ``miss``
        when the route's cache was looked up and held none; ``None`` when the cache
        does not apply (or an async stream was not entered yet)."""
        lookup: Lookup | None = (
            None if self._pending is None else self._pending.extra.get(CACHE_KEY)
        )
        if lookup is None:
            return None
        return "miss" if lookup.hit is None else "hit"

    @property
    def target(self) -> Target | None:
        """The target the stream opened on (``None`` until it is entered and open)."""
        return None if self._opened is None else self._opened.target

    @property
    def response(self) -> ChatResponse:
        """The assembled response; available once the stream has been read to the end."""
        if self._response is None:
            raise RuntimeError("the stream has not been read to the end yet")
        return self._response

    def _take(self, chunk: ChatChunk) -> ChatChunk:
        self._asm.add(chunk)
        return chunk

    def _begin(self) -> None:
        # A stream is read once: reading it again would finish its call again
        # (a second settlement, audit record, guard count and shadow copy).
        if self._read or self._ended:
            raise StreamConsumed(
                "this stream was already iterated or closed; a stream is read once "
                "(its assembled reply is .response)"
            )
        self._read = True

    # The endings are store programs: Stream runs them, AsyncStream awaits them.

    def _end(self) -> Program[None]:
        assert self._opened is not None
        if self._ended:  # closed or failed while it was being read: it ended then
            return
        self._ended = True
        self._response = yield from self._core.finish_steps(
            self._call, self._asm.response(), self._opened.target
        )

    def _fail(self, err: BaseException) -> Program[None]:
        if not self._ended:
            self._ended = True
            if self._pending is not None:  # else nothing was decided, nothing held
                yield from self._core.fail_steps(self._pending, err)

    def _interrupted(self, err: ProviderError) -> Program[StreamInterrupted]:
        exc = yield from self._core.interrupted_steps(self._call, err, self._asm.text)
        yield from self._fail(exc)
        return exc

    def _replay(self) -> Opened | None:
        """The stream of a call served from the cache: every chunk at once, nothing sent."""
        hit = self._core.cached(self._call)
        if hit is None:
            return None
        from .cache import replay_chunks
        from .execution.executor import Opened

        return Opened(hit.target, replay_chunks(hit.response), _NoMore())

    def _closed_early(self) -> Program[None]:
        # Reading stopped before the end (break, exception in the caller).
        yield from self._fail(GeneratorExit("stream closed before its end"))


class Stream(_StreamBase):
    """A blocking stream of :class:`ChatChunk`; use it as a context manager."""

    def __init__(self, router: Router, call: Call) -> None:
        super().__init__(router._core, call)
        self._executor = router._executor

    def __enter__(self) -> Self:
        if self._opened is None:
            try:
                self._opened = self._replay() or self._executor.open_stream(self._call)
            except BaseException as e:
                run(self._fail(e), self._core.store)
                raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ChatChunk]:
        self._begin()
        self.__enter__()
        assert self._opened is not None
        for chunk in self._opened.head:
            yield self._take(chunk)
        self._opened.head = []
        add = self._asm.add
        try:
            for chunk in self._opened.rest:
                add(chunk)
                yield chunk
        except ProviderError as e:
            raise run(self._interrupted(e), self._core.store) from None
        run(self._end(), self._core.store)

    def close(self) -> None:
        """Stop reading and release the connection."""
        if self._opened is not None:
            close = getattr(self._opened.rest, "close", None)
            if close is not None:
                close()
        run(self._closed_early(), self._core.store)


class AsyncStream(_StreamBase):
    """An async stream of :class:`ChatChunk`; use it as an async context manager.

    Entering it decides (policy, budgets) and opens the stream.
    """

    def __init__(self, router: AsyncRouter, start: Program[Call]) -> None:
        super().__init__(router._core, None)
        self._start: Program[Call] | None = start
        self._astore = router._astore
        self._executor = router._executor

    @awaits_audit
    async def __aenter__(self) -> Self:
        if self._opened is None:
            if self._pending is None:
                start, self._start = self._start, None
                if start is None:
                    raise StreamConsumed("this stream's request was refused or closed already")
                self._pending = await arun(start, self._astore)
            try:
                self._opened = self._replay() or await self._executor.open_stream(self._call)
            except BaseException as e:
                await arun(self._fail(e), self._astore)
                raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        self._begin()
        await self.__aenter__()
        assert self._opened is not None
        for chunk in self._opened.head:
            yield self._take(chunk)
        self._opened.head = []
        add = self._asm.add
        try:
            async for chunk in self._opened.rest:
                add(chunk)
                yield chunk
        except ProviderError as e:
            raise (await arun(self._interrupted(e), self._astore)) from None
        async with AuditHold():
            await arun(self._end(), self._astore)

    @awaits_audit
    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        if self._opened is not None:
            aclose = getattr(self._opened.rest, "aclose", None)
            if aclose is not None:
                await aclose()
        if self._start is not None:  # never entered: nothing was decided
            self._start.close()
            self._start = None
        await arun(self._closed_early(), self._astore)


class _NoMore:
    """The empty rest of a replayed stream, for ``for`` and ``async for`` alike."""

    def __iter__(self) -> Iterator[ChatChunk]:
        return iter(())

    def __aiter__(self) -> _NoMore:
        return self

    async def __anext__(self) -> ChatChunk:
        raise StopAsyncIteration
