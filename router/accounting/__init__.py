"""Prices, estimates and (with the money features) budgets and ledgers."""

from .pricing import cost_usd, worst_case_cost_usd
from .tokens import estimate_text_tokens, estimate_tokens

__all__ = ["cost_usd", "estimate_text_tokens", "estimate_tokens", "worst_case_cost_usd"]
