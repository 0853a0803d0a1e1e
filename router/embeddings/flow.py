"""One embedding call through the router's pipeline: the same policy as chat.

The facade's ``embed`` calls :func:`start` (validate, classify, decide,
reserve, set up the walk), its executor's walk with an embedding sender, then
:func:`finish` (usage, cost, ledger, audit) or ``_Core.fail``.

The policy, budget gate, telemetry and ledger read a call as a chat request
(``Call.request``): an embedding request stands there as one user message per
input (:func:`as_chat`), decided with ``operation="embeddings"`` — only
embedding models are planned, priced on input alone. Inputs are classified
as chat messages are, each alone and across the boundaries between them (a
value split over two inputs still travels in one body). The inputs to send
stay in ``Call.extra`` (:data:`REQUEST_KEY`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from pydantic import ValidationError

from ..accounting import amortised_cost_usd, cost_usd
from ..accounting.budget import EXTRA_KEY
from ..errors import NoEligibleTarget, RequestError, request_error
from ..execution.call import Call
from ..execution.embeddings import AsyncEmbeddingSender, EmbeddingSender
from ..execution.walker import Walker
from ..migration import record_outcome, route_traffic
from ..types import ChatRequest, RequestContext, RouteInfo
from .adapters import supports_dimensions
from .types import EMBEDDING_PARAMS, Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

if TYPE_CHECKING:
    from ..client import _Core
    from ..execution.executor import AsyncExecutor, Executor
    from ..policy import Decision, Policy, Snapshot
    from ..targets import Target
    from .adapters import Batch

__all__ = [
    "REQUEST_KEY",
    "as_chat",
    "async_sender",
    "decide",
    "embedding_request",
    "finish",
    "policy_decision",
    "request",
    "sender",
    "start",
]

REQUEST_KEY = "embeddings"
"""Where a call keeps its :class:`EmbeddingRequest` in ``Call.extra``."""

_NO_EMBEDDINGS_API = frozenset({"anthropic"})


def request(input: str | Sequence[str], params: Mapping[str, Any]) -> EmbeddingRequest:
    """The validated call; a bad argument is a ``TypeError`` or a
    :class:`~router.errors.RequestError` naming the field, never quoting it."""
    unknown = set(params) - EMBEDDING_PARAMS
    if unknown:
        raise TypeError(
            f"unknown embed parameter(s): {', '.join(sorted(unknown))}; "
            f"supported: {', '.join(sorted(EMBEDDING_PARAMS))}"
        )
    if isinstance(input, str):
        inputs: tuple[str, ...] = (input,)
    elif isinstance(input, bytes | bytearray) or not isinstance(input, Sequence):
        raise TypeError("input must be a string or a list of strings")
    else:
        inputs = tuple(input)
    for i, text in enumerate(inputs):
        if not isinstance(text, str):
            raise TypeError(f"input[{i}] must be a string (token arrays are not supported)")
        if not text:
            raise RequestError("an empty string cannot be embedded", field=f"input[{i}]")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise RequestError(
                    "the text holds a lone surrogate (not valid Unicode); no target can be sent it",
                    field=f"input[{i}]",
                ) from None
    try:
        return EmbeddingRequest(input=inputs, **params)
    except ValidationError as e:
        raise request_error(e) from None


def as_chat(req: EmbeddingRequest) -> ChatRequest:
    """The request as the policy, budgets and telemetry read it: a user message per input."""
    # Validated in one call into pydantic-core: several times faster than
    # model_construct per message, which resolves every default in Python.
    messages = [{"role": "user", "content": text} for text in req.input]
    return ChatRequest.model_validate({"messages": messages, "user": req.user})


def _fit(req: EmbeddingRequest, decision: Decision) -> Decision:
    """``decision`` without the targets that cannot serve this call (a subset).

    Asking for ``dimensions`` from targets that cannot shorten vectors only
    narrows the plan; when no planned target can, it is the caller's mistake.
    """
    reasons: dict[str, str] = {}
    for t in decision.plan:
        if t.kind in _NO_EMBEDDINGS_API:
            reasons[t.name] = f"operation: provider kind {t.kind} has no embeddings API"
        elif req.dimensions is not None and not supports_dimensions(t):
            reasons[t.name] = f"dimensions: the {t.kind} engine cannot shorten vectors"
    if not reasons:
        return decision
    keep = tuple(t for t in decision.plan if t.name not in reasons)
    excluded = {k: tuple(v) for k, v in decision.excluded.items()}
    for name, why in reasons.items():
        excluded[name] = (*excluded.get(name, ()), why)
    zones = {
        **decision.excluded_zones,
        **{t.name: t.zone for t in decision.plan if t.name in reasons},
    }
    narrowed = dataclasses.replace(
        decision,
        plan=keep,
        excluded=excluded,
        excluded_zones=zones,
        costs={t.name: decision.costs[t.name] for t in keep if t.name in decision.costs},
    )
    if not keep:
        if req.dimensions is not None and all("dimensions" in r for r in reasons.values()):
            raise RequestError(
                f"no planned target can return {req.dimensions} dimensions: "
                + ", ".join(sorted(reasons)),
                field="dimensions",
            )
        raise NoEligibleTarget(
            f"no eligible target for route {decision.route!r}\n{narrowed.explain()}", narrowed
        )
    return narrowed


def decide(
    core: _Core,
    input: str | Sequence[str],
    model: str,
    context: RequestContext | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> tuple[EmbeddingRequest, ChatRequest, RequestContext, Decision]:
    """Validate, classify every input and decide; nothing is reserved or sent."""
    req = request(input, params)
    chat = as_chat(req)
    ctx = core.context(context)
    snap = core.snapshot()
    decision = policy_decision(core.policy, req, chat, ctx, snap, model)
    route = core.config.routes.get(decision.route)
    return req, chat, ctx, route_traffic(core.store, decision, route, ctx, snap)


def policy_decision(
    policy: Policy,
    req: EmbeddingRequest,
    chat: ChatRequest,
    ctx: RequestContext,
    snap: Snapshot,
    model: str,
) -> Decision:
    """The policy's Decision for an embedding call (``chat`` is :func:`as_chat` of it),
    without the targets that cannot serve it; also what ``llm-router explain --input``
    shows."""
    decision = policy.decide(chat, ctx, snap, model=model, operation="embeddings")
    return _fit(req, decision)


def start(
    core: _Core,
    input: str | Sequence[str],
    model: str,
    context: RequestContext | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> Call:
    """Decide, reserve against budgets and set up the walk; nothing is sent yet."""
    try:
        req, chat, ctx, decision = decide(core, input, model, context, params)
        route = core.policy.route_for(model)[1]
        chat, decision, hold = core.budget.admit(chat, ctx, decision)
    except NoEligibleTarget as e:
        core.observer.request_denied(model, core.context(context), e)
        raise
    walker = Walker(
        decision, route, deadline_s=ctx.deadline_s, breakers=core.breakers, health=core.health
    )
    call = Call(chat, ctx, decision, route, walker)
    call.extra[EXTRA_KEY] = hold
    call.extra[REQUEST_KEY] = req
    core.observer.request_started(call)
    return call


def finish(core: _Core, call: Call, batch: Batch, target: Target) -> EmbeddingResponse:
    """The answer with its usage and route; settle the cost, record the outcome."""
    call.walker.completed()
    if batch.prompt_tokens is not None:
        tokens, estimated = batch.prompt_tokens, False
    else:
        # Not reported (Gemini): charge the bound, never a guess below it.
        tokens, estimated = core.budget.counter.upper_bound(call.request), True
    usage = EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens, estimated=estimated)
    data = [
        Embedding.model_construct(object="embedding", index=i, embedding=v)
        for i, v in enumerate(batch.vectors)
    ]
    response = EmbeddingResponse.model_construct(
        object="list",
        data=data,
        model=batch.model or target.model_id,
        usage=usage,
        route=RouteInfo(
            route=call.decision.route,
            target=target.name,
            provider=target.provider,
            zone=target.zone,
            attempts=list(call.walker.attempts),
            cost_usd=cost_usd(target, usage),
            amortised_cost_usd=amortised_cost_usd(target, usage),
            cost_estimated=estimated,
            decision_id=call.decision.id,
        ),
    )
    core.budget.settle(call, response, target)
    record_outcome(core.store, call, core.clock())
    core.observer.request_ended(call, response=response)
    return response


def embedding_request(call: Call) -> EmbeddingRequest:
    """The inputs and parameters a call started by :func:`start` sends."""
    req: EmbeddingRequest = call.extra[REQUEST_KEY]
    return req


_senders: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()


def sender(executor: Executor) -> EmbeddingSender:
    """The embedding sender riding on ``executor``'s pools (one per executor)."""
    s = _senders.get(executor)
    if s is None:
        s = _senders[executor] = EmbeddingSender(executor.http, executor.embedded)
    return s


def async_sender(executor: AsyncExecutor) -> AsyncEmbeddingSender:
    """The asyncio embedding sender riding on ``executor``'s pools (one per executor)."""
    s = _senders.get(executor)
    if s is None:
        s = _senders[executor] = AsyncEmbeddingSender(executor.http, executor.embedded)
    return s
