"""An embedding call as the policy reads it: validation, its chat form, its Decision.

No I/O and nothing of the executor: ``Router.explain_embed``, ``llm-router
explain --input`` and ``llm-router test`` (``input:`` cases) decide with it,
and :mod:`router.embeddings.flow` runs the call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import NoEligibleTarget, RequestError, request_error
from ..types import ChatRequest, RequestContext
from .adapters import NO_EMBEDDINGS_API, batch_limit, supports_dimensions
from .types import EMBEDDING_PARAMS, EmbeddingRequest

if TYPE_CHECKING:
    from ..policy import Decision, Policy, Snapshot

__all__ = ["as_chat", "policy_decision", "request"]


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
        batch_limit(t)  # a bad embedding_batch_size is a ConfigError before any send
        if t.kind in NO_EMBEDDINGS_API:
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
