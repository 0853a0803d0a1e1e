"""Lint warnings for a config that loads but probably does not say what was meant."""

from __future__ import annotations

from ..config.schema import Config
from .engine import Policy
from .matchers import parse_comparison

__all__ = ["lint"]


def lint(config: Config, policy: Policy | None = None) -> list[str]:
    """Warnings about rules, routes and models (each names its key); never raises."""
    policy = policy or Policy(config)
    warnings: list[str] = []
    targets = policy.targets
    all_names = set(targets)

    # Rules whose `when` can never hold, or whose effects an earlier rule makes moot.
    for compiled, rule in zip(policy.rules, config.rules, strict=True):
        for note in compiled.never:
            warnings.append(f"rules.{rule.name}: unreachable: {note}")
    for i, (ci, ri) in enumerate(zip(policy.rules, config.rules, strict=True)):
        blocked = set(ci.deny_hit) | set(ci.allow_fail)
        if not all_names or blocked < all_names:
            continue
        for rj in config.rules[i + 1 :]:
            if ri.when is None or ri.when == rj.when:
                warnings.append(
                    f"rules.{rj.name}: unreachable: rule {ri.name!r} already excludes every "
                    "target whenever this rule matches"
                )

    # Trust filters naming values no target has (often a typo: 'lcoal').
    for rule in config.rules:
        for effect in ("allow", "deny"):
            f = getattr(rule, effect)
            if f is None:
                continue
            for field in ("zone", "region", "provider", "license", "origin", "model"):
                values = getattr(f, field)
                if not values:
                    continue
                have: set[str] = set()
                for t in targets.values():
                    if field == "provider":
                        have.update(v.casefold() for v in (t.provider, t.kind))
                    elif field == "model":
                        have.update(v.casefold() for v in (t.name, t.model_id))
                    elif (v := getattr(t, field)) is not None:
                        have.add(v.casefold())
                for v in values:
                    if v.casefold() not in have:
                        warnings.append(
                            f"rules.{rule.name}.{effect}.{field}: no model has {field} {v!r}"
                        )
            for v in f.zone or ():
                if v not in config.zones:
                    warnings.append(
                        f"rules.{rule.name}.{effect}.zone: {v!r} is not in zones "
                        f"{list(config.zones)}"
                    )

    # Budgets and cost ceilings (a rule's, or a context's a rule lets loosen) treat an
    # unpriced model as free; only zone local is meant to be.
    has_cost_rule = any(
        r.budget is not None
        or (r.limit is not None and r.limit.max_cost_usd is not None)
        or "max_cost_usd" in (r.override or ())
        for r in config.rules
    )
    if has_cost_rule:
        for t in targets.values():
            if t.price is None and t.cost is None and t.zone != "local":
                warnings.append(
                    f"models.{t.name}: no price (zone {t.zone}); cost rules count it as free"
                )

    # Levels a config declares that neither a detector, the default nor a rule uses.
    used = {config.sensitivity.default}
    used.update(config.sensitivity.levels[lvl] for _, lvl in policy.detectors)
    for rule in config.rules:
        if rule.when is not None and rule.when.sensitivity is not None:
            used.add(parse_comparison(rule.when.sensitivity)[1])
    declared_levels = "levels" in config.sensitivity.model_fields_set
    for lvl in config.sensitivity.levels if declared_levels else ():
        if lvl not in used:
            warnings.append(
                f"sensitivity.levels: level {lvl!r} is used by no detector, default or rule"
            )

    # Routes that a rule applying to every request leaves without a target.
    for rname, route in config.routes.items():
        if not policy.rules:
            break
        cands = set(route.all_models())
        for ci, ri in zip(policy.rules, config.rules, strict=True):
            if ri.when is None and cands <= (set(ci.deny_hit) | set(ci.allow_fail)):
                warnings.append(
                    f"routes.{rname}: rule {ri.name!r} (no when) excludes every candidate"
                )
        for m in cands:
            t = targets[m]
            if route.min_quality is not None and t.quality_for(route.task) is None:
                warnings.append(
                    f"routes.{rname}: candidate {m!r} has no quality score; the route's "
                    "min_quality excludes it"
                )
    return warnings
