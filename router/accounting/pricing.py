"""What a call cost, from its usage and the target's price."""

from __future__ import annotations

from ..targets import Target
from ..types import Usage

__all__ = ["cost_usd", "worst_case_cost_usd"]


def cost_usd(target: Target, usage: Usage | None) -> float:
    """USD for ``usage`` at ``target``'s list price; 0 for self-hosted (zero marginal cost)."""
    p = target.price
    if p is None or usage is None:
        return 0.0
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    cached_price = p.cached_input if p.cached_input is not None else p.input
    return (fresh * p.input + cached * cached_price + usage.completion_tokens * p.output) / 1e6


def worst_case_cost_usd(target: Target, input_tokens: int, output_tokens: int) -> float:
    """The most a call can cost: every input token uncached, every output token produced."""
    p = target.price
    if p is None:
        return 0.0
    return (input_tokens * p.input + output_tokens * p.output) / 1e6
