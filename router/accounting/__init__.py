"""Money: prices, estimates, per-request ceilings, budgets and the ledger."""

from .budget import BudgetGate, Estimate, Hold
from .ledger import LedgerRecord, read_ledger
from .pricing import amortised_cost_usd, amortised_usd_per_token, cost_usd, worst_case_cost_usd
from .tokens import (
    ExactCounter,
    FastCounter,
    TokenCounter,
    estimate_text_tokens,
    estimate_tokens,
)
from .windows import window, window_label

__all__ = [
    "BudgetGate",
    "Estimate",
    "ExactCounter",
    "FastCounter",
    "Hold",
    "LedgerRecord",
    "TokenCounter",
    "amortised_cost_usd",
    "amortised_usd_per_token",
    "cost_usd",
    "estimate_text_tokens",
    "estimate_tokens",
    "read_ledger",
    "window",
    "window_label",
    "worst_case_cost_usd",
]
