"""One embedding call through the router's pipeline: the same policy as chat.

The facade's ``embed`` runs :func:`start_steps` (validate, classify, decide,
reserve, set up the walk), its executor's walk with an embedding sender, then
:func:`finish_steps` (usage, cost, ledger, audit) or ``_Core.fail_steps`` —
store programs (router/state/program.py), run on the sync store by
``Router`` and awaited on the async one by ``AsyncRouter``.

The policy, budget gate, telemetry and ledger read a call as a chat request
(``Call.request``): an embedding request stands there as one user message per
input (:func:`router.embeddings.decide.as_chat`), decided with
``operation="embeddings"`` — only embedding models are planned, priced on
input alone; every input is classified (docs/policy.md, "Embedding
requests"). The inputs to send stay in ``Call.extra`` (:data:`REQUEST_KEY`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from ..accounting.budget import EXTRA_KEY, UNANSWERED_KEY
from ..errors import NoEligibleTarget
from ..execution.call import Call
from ..execution.embeddings import AsyncEmbeddingSender, EmbeddingSender
from ..execution.walker import Walker
from ..migration import record_outcome_steps, route_traffic_steps
from ..state.program import Program, run
from ..types import ChatRequest, RequestContext
from .decide import as_chat, policy_decision, request
from .types import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

if TYPE_CHECKING:
    from ..client import _Core
    from ..execution.executor import AsyncExecutor, Executor
    from ..execution.walker import Send
    from ..policy import Decision
    from ..targets import Target
    from .adapters import Batch

__all__ = [
    "REQUEST_KEY",
    "async_attempt",
    "async_sender",
    "attempt",
    "decide",
    "embedding_request",
    "finish_steps",
    "sender",
    "start_steps",
]

REQUEST_KEY = "embeddings"
"""Where a call keeps its :class:`EmbeddingRequest` in ``Call.extra``."""


def decide_steps(
    core: _Core,
    input: str | Sequence[str],
    model: str,
    context: RequestContext | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> Program[tuple[EmbeddingRequest, ChatRequest, RequestContext, Decision]]:
    """Validate, classify every input and decide; nothing is reserved or sent."""
    req = request(input, params)
    chat = as_chat(req)
    ctx = core.context(context)
    snap = yield from core.snapshot_steps()
    decision = policy_decision(core.policy, req, chat, ctx, snap, model)
    route = core.config.routes.get(decision.route)
    return req, chat, ctx, (yield from route_traffic_steps(decision, route, ctx, snap))


def decide(
    core: _Core,
    input: str | Sequence[str],
    model: str,
    context: RequestContext | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> tuple[EmbeddingRequest, ChatRequest, RequestContext, Decision]:
    """:func:`decide_steps`, run on the router's sync store (``explain_embed``)."""
    return run(decide_steps(core, input, model, context, params), core.store)


def start_steps(
    core: _Core,
    input: str | Sequence[str],
    model: str,
    context: RequestContext | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> Program[Call]:
    """Decide, reserve against budgets and set up the walk; nothing is sent yet."""
    try:
        req, chat, ctx, decision = yield from decide_steps(core, input, model, context, params)
        route = core.policy.route_for(model)[1]
        chat, decision, hold = yield from core.budget.admit_steps(chat, ctx, decision)
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


def finish_steps(
    core: _Core, call: Call, batch: Batch, target: Target
) -> Program[EmbeddingResponse]:
    """The answer with its usage and route; settle the cost, record the outcome."""
    yield from call.walker.completed_steps()
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
    # Validated, which in pydantic-core costs half of model_construct's Python loop;
    # the vectors and the models inside are instances already, passed through.
    response = EmbeddingResponse(
        object="list",
        data=data,
        model=batch.model or target.model_id,
        usage=usage,
        route=call.route_info(target, usage),
    )
    yield from core.budget.settle_steps(call, response, target)
    yield from record_outcome_steps(call, core.clock())
    core.observer.request_ended(call, response=response)
    return response


def embedding_request(call: Call) -> EmbeddingRequest:
    """The inputs and parameters a call started by :func:`start` sends."""
    req: EmbeddingRequest = call.extra[REQUEST_KEY]
    return req


def _billed(call: Call, t: Target) -> None:
    # A try that failed after some of its batches were answered was billed for
    # them: the budget gate charges it at its worst case, as a timed-out try.
    call.extra.setdefault(UNANSWERED_KEY, []).append(t.name)


def request_for(call: Call, target: Target) -> EmbeddingRequest:
    """The inputs ``target`` is sent: as given, or redacted for a zone a matched rule's
    ``redact`` names (the redacted chat form holds one user message per input)."""
    req = embedding_request(call)
    red = call.decision.redaction
    if red is None or not red.applies(target):
        return req
    chat = red.request
    inputs = tuple(m.text() for m in chat.messages)
    return req.model_copy(update={"input": inputs, "user": chat.user})


def attempt(call: Call, sender: EmbeddingSender) -> Callable[[Send], Batch]:
    """One try of ``call`` on a step's target, as the executor's walk calls it."""
    billed = partial(_billed, call)
    return lambda step: sender.embed(step, request_for(call, step.target), billed)


def async_attempt(
    call: Call, sender: AsyncEmbeddingSender
) -> Callable[[Send], Coroutine[Any, Any, Batch]]:
    """:func:`attempt` for the asyncio executor."""
    billed = partial(_billed, call)
    return lambda step: sender.embed(step, request_for(call, step.target), billed)


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
