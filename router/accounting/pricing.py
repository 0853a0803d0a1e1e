"""What a call costs: list price (marginal) and amortised self-hosted cost.

A target with a ``price`` is billed per token by its provider. A self-hosted
target has no list price (zero *marginal* cost: one more request costs
nothing extra on a GPU you already pay for), but it does have an *amortised*
cost: with ``cost: {gpu_hour_usd, tokens_per_second}`` each token costs
``gpu_hour_usd / 3600 / tokens_per_second``, the GPU's price spread over the
tokens it processes at full utilisation. Budgets count marginal cost;
reports show both.
"""

from __future__ import annotations

from ..targets import Target
from ..types import Usage
from .tokens import ASSUMED_OUTPUT_TOKENS

__all__ = [
    "amortised_cost_usd",
    "amortised_usd_per_token",
    "cost_usd",
    "output_tokens_for",
    "worst_case_cost_usd",
]


def cost_usd(target: Target, usage: Usage | None) -> float:
    """USD for ``usage`` at ``target``'s list price; 0 for self-hosted (zero marginal cost).

    The prompt splits into cache reads (``cached_input``), cache writes
    (``cache_write``) and the rest (``input``); each rate left unset is
    ``input``. All output, reasoning included, is billed at ``output``.
    """
    p = target.price
    if p is None or usage is None:
        return 0.0
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    fresh = usage.prompt_tokens - cached - written
    cached_price = p.cached_input if p.cached_input is not None else p.input
    write_price = p.cache_write if p.cache_write is not None else p.input
    return (
        fresh * p.input
        + cached * cached_price
        + written * write_price
        + usage.completion_tokens * p.output
    ) / 1e6


def output_tokens_for(target: Target, requested: int | None) -> int:
    """The most output a call to ``target`` can produce: the request's cap, else the
    model's ``max_output_tokens``, else the cap its endpoint sends (the assumed default).
    0 is a call that produces no tokens (embeddings)."""
    if requested == 0:
        return 0
    return requested or target.max_output_tokens or ASSUMED_OUTPUT_TOKENS


def worst_case_cost_usd(target: Target, input_tokens: int, output_tokens: int) -> float:
    """The most a call can cost: every input token at the dearest input rate (a cache
    write can cost more than plain input), every output token produced."""
    p = target.price
    if p is None:
        return 0.0
    rate = max(p.input, p.cached_input or 0.0, p.cache_write or 0.0)
    return (input_tokens * rate + output_tokens * p.output) / 1e6


def amortised_usd_per_token(target: Target) -> float | None:
    """The GPU's hourly price spread over its throughput; ``None`` without ``cost:``."""
    c = target.cost
    if c is None:
        return None
    return c.gpu_hour_usd / 3600.0 / c.tokens_per_second


def amortised_cost_usd(target: Target, usage: Usage | None) -> float | None:
    """Amortised cost of ``usage`` (input and output tokens) on a self-hosted target.

    ``None`` for targets without ``cost:``. ``tokens_per_second`` is the
    aggregate throughput the GPU sustains for your mix of prompt and output
    tokens (all requests batched together), so every token counts once.
    """
    per = amortised_usd_per_token(target)
    if per is None or usage is None:
        return None
    return (usage.prompt_tokens + usage.completion_tokens) * per
