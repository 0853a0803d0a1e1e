"""Money: prices, estimates, per-request ceilings, budgets and the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazyexports import lazy_exports

if TYPE_CHECKING:
    from .budget import BudgetGate, Estimate, Hold
    from .ledger import LedgerRecord, read_ledger
    from .pricing import (
        amortised_cost_usd,
        amortised_usd_per_token,
        cost_usd,
        worst_case_cost_usd,
    )
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

# Each name is imported from its module on first use (PEP 562): importing one
# submodule (the policy prices with ``pricing`` and ``tokens``) does not load
# the others, and the ledger loads with the first record, not with a router.
_HOMES = {
    "BudgetGate": "budget",
    "Estimate": "budget",
    "Hold": "budget",
    "LedgerRecord": "ledger",
    "read_ledger": "ledger",
    "amortised_cost_usd": "pricing",
    "amortised_usd_per_token": "pricing",
    "cost_usd": "pricing",
    "worst_case_cost_usd": "pricing",
    "ExactCounter": "tokens",
    "FastCounter": "tokens",
    "TokenCounter": "tokens",
    "estimate_text_tokens": "tokens",
    "estimate_tokens": "tokens",
    "window": "windows",
    "window_label": "windows",
}

__getattr__ = lazy_exports(__name__, _HOMES)
