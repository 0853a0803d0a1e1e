"""The Decision: what the policy engine concluded for one request, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config.schema import BudgetEffect, LimitEffect
from ..targets import Target

if TYPE_CHECKING:
    from .redaction import Redaction

__all__ = ["Decision", "Limits", "SensitivityResult"]


@dataclass(frozen=True, slots=True)
class SensitivityResult:
    """Declared and detected sensitivity; detector names and counts, never matched text."""

    declared: str | None
    detected: str | None
    level: str
    detectors: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limits:
    """The ceilings and floors in force for a request (tightest of all sources)."""

    max_cost_usd: float | None = None
    min_quality: float | None = None
    max_output_tokens: int | None = None
    max_latency_ms: float | None = None
    required: frozenset[str] = frozenset()
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each limit came from (``rule <name>``, ``route <name>``, ``context``, ``request``)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The admitted plan for one request and the explanation behind it.

    ``plan`` is the only list of targets the executor may contact, in order.
    """

    id: str
    route: str
    plan: tuple[Target, ...]
    excluded: Mapping[str, tuple[str, ...]]
    matched_rules: tuple[str, ...]
    sensitivity: SensitivityResult
    limits: Limits
    fallback: bool = True
    shadow: tuple[Target, ...] = ()
    budgets: tuple[tuple[str, BudgetEffect], ...] = ()
    """Budgets of the matched rules, as (rule name, budget); all must admit the request."""
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    rate_limits: tuple[tuple[str, LimitEffect], ...] = ()
    """Rate limits (``rpm``/``tpm``) of the matched rules, as (rule name, effect)."""
    input_tokens: int = 0
    """Estimated input tokens (all messages, tool arguments and results)."""
    input_tokens_bound: int = 0
    """Input tokens the request cannot exceed (UTF-8 bytes plus template overhead): what
    ``costs``, the ``max_cost_usd`` check and budget reservations price. 0: not computed."""
    output_tokens: int | None = None
    """Output tokens asked for (request or route default, clamped by policy); None: unbounded."""
    costs: Mapping[str, float] = field(default_factory=dict)
    """Worst-case USD per planned target (input bound + output cap), as used for the cost
    ceiling and ``cheapest``."""
    excluded_zones: Mapping[str, str] = field(default_factory=dict)
    """Zone of each excluded target, for the explanation (names only: nothing to send to)."""
    operation: str = "chat"
    """``chat`` or ``embeddings``: which kind of model the plan holds."""
    cache: bool = False
    """Whether the route's response cache may serve and store this request (docs/cache.md)."""
    cache_note: str = ""
    """Why the cache applies or not (empty when the route has no cache)."""
    redaction: Redaction | None = None
    """Set when a rule's ``redact`` replaced detected values: planned targets in its
    zones are sent ``redaction.request`` and were decided on it."""

    @property
    def target_names(self) -> tuple[str, ...]:
        """The plan's config names, in order."""
        return tuple(t.name for t in self.plan)

    def explain(self) -> str:
        """A readable table: the plan, the exclusions with their reasons, the rules."""
        lines = [
            f"decision {self.id}  route={self.route}  sensitivity={self.sensitivity.level}"
            + (f"  operation={self.operation}" if self.operation != "chat" else "")
            + (f" (declared {self.sensitivity.declared}" if self.sensitivity.declared else "")
            + (")" if self.sensitivity.declared else ""),
        ]
        if self.sensitivity.detectors:
            found = ", ".join(f"{k} x{v}" for k, v in sorted(self.sensitivity.detectors.items()))
            lines.append(f"detected: {found}")
        if self.matched_rules:
            lines.append("rules: " + ", ".join(self.matched_rules))
        src = self.limits.sources
        lim = [
            f"{k}={v:g}" + (f" ({src[k]})" if k in src else "")
            for k, v in (
                ("max_cost_usd", self.limits.max_cost_usd),
                ("min_quality", self.limits.min_quality),
                ("max_output_tokens", self.limits.max_output_tokens),
                ("max_latency_ms", self.limits.max_latency_ms),
            )
            if v is not None
        ]
        if self.limits.required:
            lim.append("requires=" + ",".join(sorted(self.limits.required)))
        if lim:
            lines.append("limits: " + ", ".join(lim))
        for rule, eff in self.rate_limits:
            rates = [f"{k}={v}" for k, v in (("rpm", eff.rpm), ("tpm", eff.tpm)) if v is not None]
            lines.append(f"rate limit: {', '.join(rates)} per {eff.key} (rule {rule})")
        red = self.redaction
        if red is not None:
            lines.append(
                f"redact: {red.summary()} for zones {', '.join(sorted(red.zones))} "
                f"(rules {', '.join(red.rules)}; decided there on sensitivity={red.level}; "
                + ("answers restored)" if red.restore else "placeholders kept in answers)")
            )
        out = f" + {self.output_tokens} output" if self.output_tokens else ""
        lines.append(f"tokens: ~{self.input_tokens} input{out} (estimated)")
        width = max([len(t.name) for t in self.plan] + [len(n) for n in self.excluded] + [6])
        lines.append("")
        lines.append(f"{'#':>2}  {'target':<{width}}  {'zone':<9}  {'worst $':>10}  status")
        for i, t in enumerate(self.plan, 1):
            cost = f"{self.costs[t.name]:.6f}" if t.name in self.costs else ""
            role = "planned: primary" if i == 1 else "planned: fallback"
            if red is not None and red.applies(t):
                role += f", sent redacted text ({red.summary()})"
            lines.append(f"{i:>2}  {t.name:<{width}}  {t.zone:<9}  {cost:>10}  {role}")
        for name, reasons in self.excluded.items():
            zone = self.excluded_zones.get(name, "")
            lines.append(
                f"{'-':>2}  {name:<{width}}  {zone:<9}  {'':>10}  excluded: " + "; ".join(reasons)
            )
        for t in self.shadow:
            lines.append(f"{'s':>2}  {t.name:<{width}}  {t.zone:<9}  {'':>10}  shadow")
        if not self.plan:
            lines.append("no eligible target: the request is refused (fail closed)")
        if self.cache_note:
            lines.append(f"cache: {self.cache_note}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (no message content)."""
        return {
            "id": self.id,
            "route": self.route,
            "operation": self.operation,
            "plan": [
                {
                    "target": t.name,
                    "provider": t.provider,
                    "zone": t.zone,
                    "worst_case_usd": self.costs.get(t.name),
                }
                for t in self.plan
            ],
            "excluded": {k: list(v) for k, v in self.excluded.items()},
            "excluded_zones": dict(self.excluded_zones),
            "matched_rules": list(self.matched_rules),
            "sensitivity": {
                "declared": self.sensitivity.declared,
                "detected": self.sensitivity.detected,
                "level": self.sensitivity.level,
                "detectors": dict(self.sensitivity.detectors),
            },
            "limits": {
                "max_cost_usd": self.limits.max_cost_usd,
                "min_quality": self.limits.min_quality,
                "max_output_tokens": self.limits.max_output_tokens,
                "max_latency_ms": self.limits.max_latency_ms,
                "required": sorted(self.limits.required),
                "sources": dict(self.limits.sources),
            },
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "budgets": [{"rule": n, **b.model_dump(exclude_none=True)} for n, b in self.budgets],
            "rate_limits": [
                {"rule": n, "rpm": e.rpm, "tpm": e.tpm, "key": e.key, "max_wait_s": e.max_wait_s}
                for n, e in self.rate_limits
            ],
            "notes": list(self.notes),
            "fallback": self.fallback,
            "shadow": [t.name for t in self.shadow],
            "cache": self.cache,
            "cache_note": self.cache_note,
            **(
                {
                    "redaction": {
                        **self.redaction.to_dict(),
                        "targets": [t.name for t in self.plan if self.redaction.applies(t)],
                    }
                }
                if self.redaction is not None
                else {}
            ),
        }
