"""The decision engine: a pure function from config, request, context and snapshot to a Decision.

It imports no HTTP library and reads no clock (time comes from the snapshot).
Everything that depends only on the config — detectors, matchers, which
target each rule's ``allow``/``deny`` admits, the reasons an exclusion will
cite — is computed once in :class:`Policy`; a decision only evaluates
predicates over the request's facts and walks the route's candidates.

Combination (docs/policy.md): allows intersect, denies unite, deny wins, the
tightest limit wins, and a request's context only tightens unless a matching
rule lists the field in ``override``. Classification reads everything the
request carries (:mod:`router.policy.canonical`), in one normalised spelling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..accounting.pricing import output_tokens_for, worst_case_cost_usd
from ..accounting.tokens import estimate_tokens, extra_texts, upper_bound_tokens
from ..config.schema import (
    BudgetEffect,
    CacheConfig,
    Config,
    LimitEffect,
    RedactEffect,
    RouteConfig,
    RuleConfig,
)
from ..errors import ConfigError, NoEligibleTarget, RequestError, UnknownRoute
from ..targets import Target, resolve_targets
from ..types import ChatRequest, RequestContext
from . import trust
from .canonical import layout_contents, scan_inputs, scan_layout, scan_texts
from .decision import Decision, Limits, SensitivityResult
from .detectors import (
    Detector,
    compile_detectors,
    count_after_redaction,
    has_digit,
    scan_forms,
)
from .matchers import Facts, Predicate, compile_matcher
from .snapshot import Snapshot

if TYPE_CHECKING:
    from .redaction import Redaction, Rewritten

__all__ = ["OVERRIDABLE", "Policy", "decide"]

Spans = tuple[tuple[Detector, list[tuple[int, int]]], ...]
"""What each detector a rule may redact with found in one text as written:
``(detector, [(start, end), ...])``, in the policy's detector order."""

Hits = tuple[tuple[int, int], ...]
"""(detector index, matches) of the detectors that fire on a text."""

_EMPTY_CONTEXT = RequestContext()


OVERRIDABLE = frozenset({"sensitivity", "max_cost_usd", "min_quality"})
_RATE_FIELDS = frozenset({"rpm", "tpm", "key", "max_wait_s"})
"""``limit:`` fields of a rate limit: counted per rule, never combined with the ceilings."""
"""Context fields a rule's ``override`` may let a request loosen."""


def _fmt(values: frozenset[str]) -> str:
    return "[" + ", ".join(sorted(values)) + "]"


@dataclass(slots=True, eq=False)
class _Rule:
    """A rule compiled against the config's targets."""

    name: str
    index: int
    """Position in the config: identifies the rule in cache keys."""
    source: str
    """``rule <name>``: how limits and requirements cite this rule."""
    preds: tuple[Predicate, ...]
    allow_fail: Mapping[str, str]
    """Target name → reason, for every target this rule's ``allow`` does not admit."""
    deny_hit: Mapping[str, str]
    """Target name → reason, for every target this rule's ``deny`` names."""
    has_allow: bool
    has_deny: bool
    limit_cost: float | None
    limit_quality: float | None
    limit_output: int | None
    limit_latency: float | None
    require: frozenset[str]
    budget: BudgetEffect | None
    rate: LimitEffect | None
    """The rule's ``limit:`` when it sets ``rpm`` or ``tpm``."""
    override: frozenset[str]
    never: tuple[str, ...]
    has_limits: bool
    redact: RedactEffect | None = None
    """Whether the rule sets any limit or requirement (others are skipped when combining)."""
    no_cache: bool = False
    """The rule says ``cache: false``."""

    def matches(self, facts: Facts) -> bool:
        # A plain loop: all() over a generator costs more on this hot path.
        for p in self.preds:  # noqa: SIM110
            if not p(facts):
                return False
        return True


@dataclass(slots=True, eq=False)
class _Route:
    """A route with its candidate targets looked up once."""

    name: str
    config: RouteConfig
    candidates: tuple[Target, ...]
    shadow: Target | None
    quality: Mapping[str, float | None]
    """Each candidate's (and the shadow's) quality for the route's task."""
    operations: frozenset[str] = frozenset({"chat"})
    """What its candidates serve: ``chat``, ``embeddings`` (an embedding model), or both."""
    zones: frozenset[str] = frozenset()
    """The zones of its candidates and shadow (whether a ``redact`` effect concerns it)."""


@dataclass(slots=True, eq=False)
class _Matched:
    """What a set of matched rules adds up to; the same for every request it matches."""

    names: tuple[str, ...]
    budgets: tuple[tuple[str, BudgetEffect], ...]
    rate_limits: tuple[tuple[str, LimitEffect], ...]
    overrides: Mapping[str, str]
    """Overridable field → the first matched rule that lets the context loosen it."""
    ruled: Mapping[str, tuple[str, ...]]
    """Target name → every reason the rules' allow/deny exclude it for."""
    cost: float | None
    quality: float | None
    output: int | None
    latency: float | None
    required: frozenset[str]
    sources: Mapping[str, str]
    """Where each of the rules' limits came from (``rule <name>``)."""
    no_cache: str | None = None
    """The first matched rule that forbids the response cache."""
    redact: _Redact | None = None
    """The matched rules' ``redact`` effects combined."""


@dataclass(frozen=True, slots=True, eq=False)
class _Redact:
    """``redact`` effects combined: detectors and zones unite; values are restored
    only when every redacting rule asks for it."""

    detectors: tuple[Detector, ...]
    indices: frozenset[int]
    """The detectors' positions in the policy's detector list."""
    zones: frozenset[str]
    restore: bool
    rules: tuple[str, ...]
    names: tuple[str, ...]
    """The detectors' names."""
    others: tuple[tuple[str, int], ...]
    """Every other detector's name and level: what still sets the redacted text's level."""
    indexed: tuple[tuple[int, Detector], ...]
    """``detectors`` with their positions."""


class Policy:
    """A config compiled for deciding: targets resolved, detectors and rules compiled.

    ``targets`` defaults to the config's models resolved against the bundled
    catalog (parsed only if a model names a ``catalog`` entry).
    """

    def __init__(self, config: Config, targets: Mapping[str, Target] | None = None) -> None:
        self.config = config
        if targets is None:
            catalog = None
            if any(m.catalog for m in config.models.values()):
                # Only then is the catalog module (and later its data file) loaded.
                from ..catalog import LazyCatalog

                catalog = LazyCatalog()
            targets = resolve_targets(config, catalog)
        self.targets: dict[str, Target] = dict(targets)
        levels = config.sensitivity.levels
        self._levels = {lvl: i for i, lvl in enumerate(levels)}
        self._level_names = levels
        self._default_level = self._levels[config.sensitivity.default]
        self.detectors: tuple[tuple[Detector, int], ...] = tuple(
            (d, self._levels[lvl]) for d, lvl in compile_detectors(config.sensitivity)
        )
        # Whether any detector also scans texts as written (user-written patterns).
        self._raw = any(d.raw for d, _ in self.detectors)
        self.rules: tuple[_Rule, ...] = tuple(
            self._compile_rule(i, r) for i, r in enumerate(config.rules)
        )
        # Per-config memos, bounded: what a set of matched rules adds up to, and
        # which detectors fire on a text already seen. Both are
        # hit by every request that repeats itself (the same rules match, the
        # system prompt and the conversation so far are sent again each turn).
        self._summaries: dict[tuple[int, ...], _Matched] = {}
        # Whether a rule reads the sensitivity level: if none does, the rules matched
        # at a redacted text's level are those matched at the request's.
        self._level_rules = any(r.when is not None and r.when.sensitivity for r in config.rules)
        # Detectors some rule may redact with: classification keeps their spans in
        # a text scanned as written, so redaction need not find them again.
        names = {n for r in config.rules if r.redact for n in r.redact.detectors}
        self._span_idx = frozenset(i for i, (d, _) in enumerate(self.detectors) if d.name in names)
        if names:
            # Loaded by configs that redact only, and bound here: an import
            # statement in the decision would cost half a microsecond a call.
            from . import redaction

            self._redact_request = redaction.redact_request
            self._reserved_numbers = redaction.reserved_numbers
            self._redaction_record = redaction.Redaction
        # A text's hits, and its spans when it was scanned as written (None when
        # not): a repeated text is redacted without being searched again.
        self._seen: dict[bytes, tuple[Hits, Spans | None]] = {}
        self._routes: dict[str, _Route] = {
            name: self._compile_route(name, r) for name, r in config.routes.items()
        }

    # --- compilation -------------------------------------------------------

    def _compile_rule(self, index: int, r: RuleConfig) -> _Rule:
        preds, never = compile_matcher(r.name, r.when, self._levels)
        allow_fail: dict[str, str] = {}
        deny_hit: dict[str, str] = {}
        for effect, f in (("allow", r.allow), ("deny", r.deny)):
            if f is None:
                continue
            fields = trust.filter_fields(f)
            if not fields:
                raise ConfigError(
                    f"rule {r.name!r}: empty {effect}", key=f"rules.{r.name}.{effect}"
                )
            for name, values in fields:
                known = trust.ENUMS.get(name)
                bad = values - known if known is not None else frozenset()
                if known is not None and bad:
                    raise ConfigError(
                        f"rule {r.name!r}: unknown {name} {_fmt(bad)}; known: {_fmt(known)}",
                        key=f"rules.{r.name}.{effect}.{name}",
                    )
            for t in self.targets.values():
                attrs = trust.attributes(t)
                if effect == "allow":
                    failed = trust.allow_failure(fields, attrs)
                    if failed is not None:
                        name, allowed, have = failed
                        shown = _fmt(have) if have else "unset"
                        allow_fail[t.name] = (
                            f"rule {r.name}: allow {name} {_fmt(allowed)}, target has {shown}"
                        )
                else:
                    hit = trust.deny_hit(fields, attrs)
                    if hit is not None:
                        deny_hit[t.name] = f"rule {r.name}: deny {hit[0]} {_fmt(hit[1])}"
        override = frozenset(r.override or ())
        bad_override = override - OVERRIDABLE
        if bad_override:
            raise ConfigError(
                f"rule {r.name!r}: cannot override {_fmt(bad_override)}; "
                f"overridable: {_fmt(OVERRIDABLE)}",
                key=f"rules.{r.name}.override",
            )
        if r.redact is not None:
            self._check_redact(r.name, r.redact)
        lim = r.limit
        return _Rule(
            name=r.name,
            index=index,
            source=f"rule {r.name}",
            preds=preds,
            allow_fail=allow_fail,
            deny_hit=deny_hit,
            has_allow=r.allow is not None,
            has_deny=r.deny is not None,
            limit_cost=lim.max_cost_usd if lim else None,
            limit_quality=lim.min_quality if lim else None,
            limit_output=lim.max_output_tokens if lim else None,
            limit_latency=lim.max_latency_ms if lim else None,
            require=frozenset(r.require or ()),
            budget=r.budget,
            rate=lim if lim is not None and lim.is_rate else None,
            override=override,
            never=never,
            has_limits=bool(lim and lim.model_fields_set - _RATE_FIELDS) or bool(r.require),
            no_cache=r.cache is False,
            redact=r.redact,
        )

    def _check_redact(self, rule: str, effect: RedactEffect) -> None:
        """A ``redact`` effect names configured detectors and known zones, or a ConfigError."""
        known = {d.name for d, _ in self.detectors}
        bad = frozenset(effect.detectors) - known
        if bad:
            raise ConfigError(
                f"rule {rule!r}: redact names unknown detector(s) {_fmt(bad)}; configured "
                f"detectors: {_fmt(frozenset(known))} (turn one on under sensitivity.detect)",
                key=f"rules.{rule}.redact.detectors",
            )
        zones = frozenset(self.config.zones)
        bad = frozenset(effect.zones) - zones
        if bad:
            raise ConfigError(
                f"rule {rule!r}: redact names unknown zone(s) {_fmt(bad)}; zones: {_fmt(zones)}",
                key=f"rules.{rule}.redact.zones",
            )

    def _compile_route(self, name: str, r: RouteConfig) -> _Route:
        cands = []
        for m in r.all_models():
            t = self.targets.get(m)
            if t is None:
                raise ConfigError(f"model {m!r} is not defined", key=f"routes.{name}.candidates")
            cands.append(t)
        shadow = None
        if r.shadow is not None:
            shadow = self.targets.get(r.shadow.model)
            if shadow is None:
                raise ConfigError(
                    f"model {r.shadow.model!r} is not defined", key=f"routes.{name}.shadow.model"
                )
        quality = {t.name: t.quality_for(r.task) for t in (*cands, *([shadow] if shadow else []))}
        ops = frozenset(_operation(t) for t in cands)
        zones = frozenset(t.zone for t in (*cands, *([shadow] if shadow else [])))
        return _Route(name, r, tuple(cands), shadow, quality, ops, zones)

    # --- lookups -----------------------------------------------------------

    def route_for(self, model: str) -> tuple[str, RouteConfig]:
        """The route ``model`` names, or a one-candidate route for a model name."""
        r = self._route(model)
        return r.name, r.config

    def _route(self, model: str) -> _Route:
        r = self._routes.get(model)
        if r is not None:
            return r
        if model in self.targets:
            r = self._compile_route(model, RouteConfig(candidates=(model,)))
            self._routes[model] = r
            return r
        known = sorted({*self.config.routes, *self.targets})
        raise UnknownRoute(f"no route or model named {model!r}; known: {', '.join(known)}")

    def level_index(self, level: str) -> int:
        """The rank of a sensitivity level (0 = least sensitive)."""
        return self._levels[level]

    # --- deciding ----------------------------------------------------------

    def _match(self, facts: Facts) -> list[_Rule]:
        """The rules whose every predicate holds, in config order."""
        matched = []
        for r in self.rules:
            # Inlined rather than r.matches(): this loop runs for every rule of every request.
            for p in r.preds:
                if not p(facts):
                    break
            else:
                matched.append(r)
        return matched

    def classify(
        self,
        texts: Sequence[str],
        spans: dict[int, Spans] | None = None,
        hits_of: dict[int, Hits] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """The highest level the detectors raise ``texts`` to (-1 if none), and counts.

        Each text is scanned on its own, in its normalised and decoded forms
        (:func:`scan_forms`); joins across parts arrive as texts of their own
        (:func:`scan_texts`). A text scanned before is recognised by its
        digest and not scanned again: the memo keeps detector counts only,
        never the text. ``spans``, when given, receives the spans of the
        detectors a rule may redact with, for each text scanned as written
        (positions only, kept in the memo too: a repeated text is not searched
        again to be redacted); ``hits_of``, each text's hits. Both are keyed by
        the text's ``id``: meaningful while ``texts`` lives, and no hash of a
        long text.
        """
        counts: dict[str, int] = {}
        top = -1
        if not self.detectors:
            return top, counts
        seen = self._seen
        detectors = self.detectors
        for text in texts:
            key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            entry = seen.get(key)
            if entry is None:
                hits = self._scan(text, None, spans)
                _remember(seen, key, (hits, spans.get(id(text)) if spans is not None else None))
            else:
                hits, kept = entry
                if kept is not None and spans is not None:
                    spans[id(text)] = kept
            if hits_of is not None:
                hits_of[id(text)] = hits
            for i, n in hits:
                det, lvl = detectors[i]
                counts[det.name] = counts.get(det.name, 0) + n
                if lvl > top:
                    top = lvl
        return top, counts

    def _scan(
        self, text: str, only: frozenset[int] | None = None, spans: dict[int, Spans] | None = None
    ) -> Hits:
        """(detector index, matches) for every detector that fires on ``text``
        (of the detectors at indices ``only``, when given).

        A detector's count is its largest over the text's forms, so a match
        seen in two forms counts once.
        """
        best: dict[int, int] = {}
        span_idx = self._span_idx
        for form, normalised in scan_forms(text, raw=self._raw):
            digits = has_digit(form)
            windows: dict[int, Any] = {}
            # The form is the text as written (ASCII prose mostly is): keep the spans.
            kept: list[tuple[Detector, list[tuple[int, int]]]] | None = (
                [] if spans is not None and span_idx and normalised and form == text else None
            )
            for i, (det, _) in enumerate(self.detectors):
                if (not normalised and not det.raw) or (only is not None and i not in only):
                    continue
                if kept is not None and i in span_idx:
                    found = det.spans(form, digits, windows)
                    kept.append((det, found))
                    n = len(found)
                else:
                    n = det.count(form, digits, windows)
                if n > best.get(i, 0):
                    best[i] = n
            if kept is not None and spans is not None:
                spans[id(text)] = tuple(kept)
        return tuple(sorted(best.items()))

    @staticmethod
    def _rescan(text: str, red: _Redact, placeholders: list[tuple[int, int]]) -> Hits:
        """:meth:`_scan` of a redacted text that is its own only form, made from a
        text whose spans classification kept (so every match of ``red``'s
        detectors in it was replaced): a detector scans it only when one of its
        placeholders may have made a match (:func:`count_after_redaction`).
        """
        out = []
        for i, det in red.indexed:
            n = count_after_redaction(det, text, placeholders)
            if n:
                out.append((i, n))
        return tuple(out)

    def decide(
        self,
        request: ChatRequest,
        context: RequestContext | None = None,
        snapshot: Snapshot | None = None,
        *,
        model: str = "default",
        operation: str = "chat",
    ) -> Decision:
        """The Decision for one request; raises NoEligibleTarget on an empty plan.

        ``operation="embeddings"``: ``request`` carries one user message per
        input (``router.embeddings`` builds it) and only embedding models are
        planned, priced on input alone; a chat request never plans one.
        """
        ctx = context or _EMPTY_CONTEXT
        snap = snapshot or Snapshot()
        route = self._route(model)
        rc = route.config
        embeddings = operation == "embeddings"
        if operation not in route.operations:
            raise _wrong_operation(route, operation)
        declared = ctx.sensitivity
        if declared is not None and declared not in self._levels:
            # The caller's mistake, not a policy denial: nothing is counted as denied.
            raise RequestError(
                f"unknown sensitivity level {declared!r}; levels: " + ", ".join(self._level_names),
                field="context.sensitivity",
            )
        # Classified first: scan_texts refuses text no adapter could encode.
        # An embedding call's inputs are scanned joined (one scan, not one per
        # input) unless a user-written pattern might be anchored to a text's start.
        scan = scan_inputs if embeddings and not self._raw else scan_texts
        scanned, direct = scan_layout(request) if scan is scan_texts else (scan(request), -1)
        found: dict[int, Spans] | None = None
        hits_of: dict[int, Hits] | None = None
        if self._span_idx:
            found, hits_of = {}, {}
        detected, counts = self.classify(scanned, found, hits_of)
        input_tokens, input_bound, window_tokens = _tokens(request, embeddings)
        has_tools, has_images = request.has_tools, request.has_images
        declared_idx = self._levels[declared] if declared is not None else -1
        level = max(declared_idx, detected, self._default_level)
        fixed: int | None = None
        facts = Facts(
            tenant=ctx.tenant,
            user=ctx.user,
            tags=frozenset(ctx.tags),
            level=level,
            route=route.name,
            metadata=ctx.metadata,
            input_tokens=input_tokens,
            has_tools=has_tools,
            has_images=has_images,
        )
        matched = self._summary(self._match(facts))
        overrides = matched.overrides
        notes: list[str] = []
        if "sensitivity" in overrides and declared is not None and declared_idx != level:
            # A rule lets this request declare its own level; rules are matched again on it.
            level = fixed = declared_idx
            notes.append(
                f"sensitivity set to declared {declared!r} (override by rule "
                f"{overrides['sensitivity']})"
            )
            facts = Facts(
                facts.tenant, facts.user, facts.tags, level, facts.route, facts.metadata,
                facts.input_tokens, facts.has_tools, facts.has_images,
            )  # fmt: skip
            matched = self._summary(self._match(facts))

        limits = self._limits(
            matched,
            route,
            ctx,
            overrides,
            (has_tools, request.wants_json_schema, has_images, embeddings),
        )
        task = rc.task
        out_req = request.max_tokens or rc.max_tokens
        if limits.max_output_tokens is not None:
            out_req = min(out_req or limits.max_output_tokens, limits.max_output_tokens)
        if embeddings:
            out_req = 0  # vectors, not tokens: priced on input alone

        candidates = route.candidates
        if route.shadow is not None and route.shadow not in candidates:
            candidates = (*candidates, route.shadow)

        # Redaction: targets in the listed zones are decided on the redacted text.
        red = matched.redact
        redaction: Redaction | None = None
        zoned: tuple[frozenset[str], _Matched | str] | None = None
        if (
            red is not None
            and any(map(counts.get, red.names))
            and not red.zones.isdisjoint(route.zones)
        ):
            floor = max(declared_idx, self._default_level)
            red_req, values, red_counts, grew, outcome = self._redacted(
                request,
                _Classified(scanned, direct, found or {}, hits_of or {}),
                scan,
                red,
                counts,
                (floor, fixed),
            )
            if isinstance(outcome, str):
                zoned = (red.zones, outcome)
            else:
                at_level = matched
                if outcome != level and self._level_rules:
                    at_level = self._summary(self._match(Facts(
                        facts.tenant, facts.user, facts.tags, outcome, facts.route,
                        facts.metadata, facts.input_tokens, facts.has_tools, facts.has_images,
                    )))  # fmt: skip
                # The same rules at the redacted level: one evaluation serves all targets.
                zoned = None if at_level is matched else (red.zones, at_level)
                redaction = self._redaction_record(
                    red.zones, red_counts, red.restore, self._level_names[outcome], red.rules,
                    red_req, values,
                )  # fmt: skip
                if grew:
                    # A placeholder longer than its value makes the request longer: price
                    # the longer one (else the original's bound holds for both).
                    red_tokens = _tokens(red_req, embeddings)
                    input_tokens = max(input_tokens, red_tokens[0])
                    input_bound = max(input_bound, red_tokens[1])
                    window_tokens = max(window_tokens, red_tokens[2])

        tokens = (window_tokens, input_bound)
        if zoned is None:
            admitted, excluded, costs = self._evaluate(
                candidates, matched.ruled, limits, tokens, out_req, task, route.quality, snap,
                embeddings,
            )  # fmt: skip
        else:
            zones, zone_rules = zoned
            rest = tuple(t for t in candidates if t.zone not in zones)
            inside = tuple(t for t in candidates if t.zone in zones)
            admitted, excluded, costs = self._evaluate(
                rest, matched.ruled, limits, tokens, out_req, task, route.quality, snap,
                embeddings,
            )  # fmt: skip
            if isinstance(zone_rules, str):
                for t in inside:
                    excluded[t.name] = (zone_rules,)
            else:
                zone_limits = self._limits(
                    zone_rules,
                    route,
                    ctx,
                    zone_rules.overrides,
                    (has_tools, request.wants_json_schema, has_images, embeddings),
                )
                more, more_excluded, more_costs = self._evaluate(
                    inside, zone_rules.ruled, zone_limits, tokens, out_req, task,
                    route.quality, snap, embeddings,
                )  # fmt: skip
                admitted.extend(more)
                excluded.update(more_excluded)
                costs.update(more_costs)
                order = {t.name: i for i, t in enumerate(candidates)}
                admitted.sort(key=lambda t: order[t.name])
                excluded = {n: excluded[n] for n in sorted(excluded, key=order.__getitem__)}

        shadow: tuple[Target, ...] = ()
        if route.shadow is not None:
            if route.shadow.name in costs:
                shadow = (route.shadow,)
            else:
                notes.append(f"shadow {route.shadow.name} not admitted by policy: no shadow copy")
            if route.shadow not in route.candidates and route.shadow in admitted:
                admitted.remove(route.shadow)
        ranked = self._rank(admitted, rc, costs, route.quality, snap)
        if snap.rate_limited:
            need = max(1, input_tokens + (out_req or 0))
            ranked = _steer(ranked, snap, need, excluded, notes)
        if rc.select == "weighted" and not rc.split:
            notes.append("select weighted without a split: candidates in order")
        # A split route keeps every admitted arm: the split (applied after the
        # policy) picks one and, with fallback off, drops the rest itself.
        plan = tuple(ranked if rc.fallback or rc.split else ranked[:1])
        if not rc.fallback and not rc.split and len(ranked) > 1:
            notes.append(f"fallback off: {len(ranked) - 1} admitted target(s) not planned")

        cache, cache_note = _cache_verdict(rc.cache, request.temperature, matched.no_cache)
        decision = Decision(
            id=_decision_id(snap.request_id, route.name),
            route=route.name,
            plan=plan,
            excluded=excluded,
            matched_rules=matched.names,
            sensitivity=SensitivityResult(
                declared=declared,
                detected=self._level_names[detected] if detected >= 0 else None,
                level=self._level_names[level],
                detectors=counts,
            ),
            limits=limits,
            fallback=rc.fallback,
            shadow=shadow,
            budgets=matched.budgets,
            rate_limits=matched.rate_limits,
            notes=tuple(notes),
            input_tokens=input_tokens,
            input_tokens_bound=input_bound,
            output_tokens=out_req,
            costs={t.name: costs[t.name] for t in plan},
            excluded_zones={t.name: t.zone for t in candidates if t.name in excluded},
            operation=operation,
            cache=cache,
            cache_note=cache_note,
            redaction=redaction,
        )
        if not plan:
            raise NoEligibleTarget(
                f"no eligible target for route {route.name!r}\n{decision.explain()}", decision
            )
        return decision

    def _limits(
        self,
        matched: _Matched,
        route: _Route,
        ctx: RequestContext,
        overrides: Mapping[str, str],
        needs: tuple[bool, bool, bool, bool],
    ) -> Limits:
        """The tightest ceilings and floors of the matched rules, the route and the context."""
        sources = dict(matched.sources)
        cost = matched.cost
        quality = matched.quality
        route_q = route.config.min_quality
        # The route's floor holds unless a rule sets a strictly higher one.
        if route_q is not None and (quality is None or route_q >= quality):
            quality, sources["min_quality"] = route_q, f"route {route.name}"
        required = set(matched.required)
        if ctx.max_cost_usd is not None:
            if "max_cost_usd" in overrides:
                cost = ctx.max_cost_usd
                sources["max_cost_usd"] = f"context (override by rule {overrides['max_cost_usd']})"
            elif cost is None or ctx.max_cost_usd < cost:
                cost, sources["max_cost_usd"] = ctx.max_cost_usd, "context"
        if ctx.min_quality is not None:
            if "min_quality" in overrides:
                quality = ctx.min_quality
                sources["min_quality"] = f"context (override by rule {overrides['min_quality']})"
            elif quality is None or ctx.min_quality > quality:
                quality, sources["min_quality"] = ctx.min_quality, "context"
        for cap, needed in zip(
            ("tools", "json_schema", "vision", "embeddings"), needs, strict=True
        ):
            if needed:
                required.add(cap)
                sources.setdefault(f"require:{cap}", "request")
        return Limits(
            max_cost_usd=cost,
            min_quality=quality,
            max_output_tokens=matched.output,
            max_latency_ms=matched.latency,
            required=frozenset(required),
            sources=sources,
        )

    def _summary(self, matched: list[_Rule]) -> _Matched:
        """What ``matched`` adds up to (memoised per set of rules)."""
        key = tuple(r.index for r in matched)
        summary = self._summaries.get(key)
        if summary is None:
            summary = _summarise(matched)
            summary.redact = self._combine_redact(matched)
            _remember(self._summaries, key, summary)
        return summary

    def _combine_redact(self, matched: list[_Rule]) -> _Redact | None:
        effects = [(r.name, r.redact) for r in matched if r.redact is not None]
        if not effects:
            return None
        names = {n for _, e in effects for n in e.detectors}
        indices = frozenset(i for i, (d, _) in enumerate(self.detectors) if d.name in names)
        return _Redact(
            detectors=tuple(self.detectors[i][0] for i in sorted(indices)),
            indices=indices,
            zones=frozenset(z for _, e in effects for z in e.zones),
            restore=all(e.restore for _, e in effects),
            rules=tuple(n for n, _ in effects),
            names=tuple(self.detectors[i][0].name for i in sorted(indices)),
            others=tuple(
                (d.name, lvl) for i, (d, lvl) in enumerate(self.detectors) if i not in indices
            ),
            indexed=tuple((i, self.detectors[i][0]) for i in sorted(indices)),
        )

    def _redacted(
        self,
        request: ChatRequest,
        texts: _Classified,
        scan: Any,
        red: _Redact,
        counts: Mapping[str, int],
        levels: tuple[int, int | None],
    ) -> tuple[ChatRequest, dict[str, str], dict[str, int], bool, int | str]:
        """The request redacted for ``red``, its values and counts, whether a placeholder
        is longer than its value, and the level the policy decides its zones on — or why
        those zones cannot be sent it.

        ``counts``: what classification found in the request. ``levels``: the
        least level (declared or default), and the level a rule let the request
        declare (redaction does not change it) or None.
        """
        scanned, direct, found, hits_of = texts
        taken = self._reserved_numbers(scanned)
        only = red.indices
        changed: dict[int, Rewritten] = {}
        red_req, values, red_counts, grew = self._redact_request(
            request, red.detectors, taken, found, changed
        )
        # The redacted request is scanned by the named detectors as the original
        # was classified: joins across parts and turns, decoded and normalised
        # forms. One that still fires found a value no span of the texts as
        # written holds. Texts redaction left as they were are known (the very
        # string classified, or by digest); a text it changed is new and, when
        # it is its own only form and every match in it was replaced, checked
        # around its placeholders.
        seen = self._seen
        left_idx: set[int] = set()
        hits: Hits | None
        relaid = _relaid(red_req, scanned, direct, changed) if direct >= 0 else None
        for text in scan(red_req) if relaid is None else relaid:
            was = changed.get(id(text))
            if was is not None and was.text is text:
                if _own_form(text, was.was, found):
                    hits = self._rescan(text, red, was.placeholders)
                else:
                    hits = self._scan(text, only)
            else:
                hits = hits_of.get(id(text))
                if hits is None:
                    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
                    entry = seen.get(key.digest())
                    hits = self._scan(text, only) if entry is None else entry[0]
            for i, n in hits:
                if n and i in only:
                    left_idx.add(i)
        if left_idx:
            left = sorted(self.detectors[i][0].name for i in left_idx)
            why = (
                f"redaction: {', '.join(left)} still found after redacting (a value split "
                "across parts or turns, or encoded, has no exact span to replace): "
                "not sent to this zone (fail closed)"
            )
            return red_req, values, red_counts, grew, why
        # What the other detectors found is still there: the redacted text's level.
        floor, fixed = levels
        level = fixed
        if level is None:
            level = floor
            for name, lvl in red.others:
                if lvl > level and counts.get(name):
                    level = lvl
        return red_req, values, red_counts, grew, level

    @staticmethod
    def _evaluate(
        candidates: tuple[Target, ...],
        ruled: Mapping[str, tuple[str, ...]],
        limits: Limits,
        tokens: tuple[int, int],
        out_req: int | None,
        task: str | None,
        quality: Mapping[str, float | None],
        snap: Snapshot,
        embeddings: bool = False,
    ) -> tuple[list[Target], dict[str, tuple[str, ...]], dict[str, float]]:
        """Admitted targets (candidate order), exclusions with every reason, worst-case costs.

        ``tokens``: the input that must fit a target's context window, and the
        input bound. The worst case prices the input *bound* (as budget
        reservations do), so ``max_cost_usd`` is a hard ceiling however the
        prompt tokenizes. An embedding model never serves a chat request.
        """
        input_tokens, input_bound = tokens
        sources = limits.sources
        required = limits.required
        floor = limits.min_quality
        ceiling = limits.max_cost_usd
        lat_max = limits.max_latency_ms
        need_window = input_tokens + (out_req or 0)
        admitted: list[Target] = []
        excluded: dict[str, tuple[str, ...]] = {}
        costs: dict[str, float] = {}
        for t in candidates:
            name = t.name
            if name in excluded or name in costs:
                continue
            why = ruled.get(name)
            reasons = [*why] if why else []
            if not embeddings and "embeddings" in t.capabilities:
                reasons.append("operation: an embedding model (this is a chat request)")
            if required and not required <= t.capabilities:
                for cap in sorted(required - t.capabilities):
                    reasons.append(
                        f"capability: no {cap} (required by {sources[f'require:{cap}']})"
                    )
            window = t.context_window
            if window is not None and need_window > window:
                reasons.append(
                    f"context window: {window} < ~{input_tokens} input"
                    + (f" + {out_req} output" if out_req else "")
                    + " tokens"
                )
            if floor is not None:
                q = quality[name]
                if q is None or q < floor:
                    what = f"quality[{task}]" if task else "quality"
                    shown = "unknown," if q is None else f"{q:g} <"
                    reasons.append(f"{what}: {shown} floor {floor:g} ({sources['min_quality']})")
            out = output_tokens_for(t, out_req)
            cost = worst_case_cost_usd(t, input_bound, out)
            if ceiling is not None and cost > ceiling:
                reasons.append(
                    f"cost: worst case ${cost:.6f} (at most {input_bound} input + {out} output "
                    f"tokens) > max_cost_usd ${ceiling:g} ({sources['max_cost_usd']})"
                )
            if lat_max is not None:
                seen = snap.latency_ms.get(name)
                if seen is not None and seen > lat_max:
                    reasons.append(
                        f"latency: observed {seen:g} ms > max_latency_ms {lat_max:g} "
                        f"({sources['max_latency_ms']})"
                    )
            if reasons:
                excluded[name] = tuple(reasons)
            else:
                costs[name] = cost
                admitted.append(t)
        return admitted, excluded, costs

    @staticmethod
    def _rank(
        admitted: list[Target],
        rc: RouteConfig,
        costs: Mapping[str, float],
        quality: Mapping[str, float | None],
        snap: Snapshot,
    ) -> list[Target]:
        """Order admitted targets by the route's ``select``; known-down targets go last."""
        order = list(admitted)
        sel = rc.select
        # Sorts are stable: ties keep the candidate order, so ranking is deterministic.
        if sel == "cheapest":
            order.sort(key=lambda t: costs[t.name])
        elif sel == "best_quality":
            order.sort(key=lambda t: -(q if (q := quality[t.name]) is not None else -1.0))
        elif sel == "fastest":
            inf = float("inf")
            order.sort(key=lambda t: snap.latency_ms.get(t.name, inf))
        if snap.unavailable:
            order.sort(key=lambda t: t.name in snap.unavailable)
        return order


class _Classified(NamedTuple):
    """What classifying a request left for redaction to use."""

    scanned: list[str]
    """The texts classified."""
    direct: int
    """:func:`scan_layout`'s count of texts that are the messages' contents, or -1."""
    found: dict[int, Spans]
    """What the redacting detectors found in each text scanned as written, by the
    text's ``id`` (``scanned`` keeps them alive; no hash of a long text)."""
    hits_of: dict[int, Hits]
    """Each text's hits, by ``id`` (``scanned`` keeps them alive)."""


def _relaid(
    red_req: ChatRequest, scanned: list[str], direct: int, changed: Mapping[int, Rewritten]
) -> list[str] | None:
    """The texts :func:`scan_texts` returns for ``red_req``, without walking it, when
    redaction changed the messages' string contents only (else None).

    ``scanned`` is the original's, laid out as ``direct`` says: its contents,
    then at most the join of every other string. Redaction changes no layout
    (a placeholder is never empty) and left those other strings as they were,
    so the join is the same; the contents are read from ``red_req``.
    """
    texts = layout_contents(red_req)
    if len(texts) != direct:
        return None
    moved = 0
    for red, was in zip(texts, scanned, strict=False):
        if red is not was:
            moved += 1
    if moved != len(changed):
        return None  # another string changed: the join differs
    texts.extend(scanned[direct:])
    return texts


def _own_form(red: str, was: str, found: Mapping[int, Spans]) -> bool:
    """Whether the redacted text ``red`` is provably its only form (what
    :func:`scan_forms` returns for it is ``[(red, True)]``).

    ``was`` is in ``found`` when it is its own normal form (classification keeps
    spans only then): no ASCII control character, no run of spaces. ``red`` is
    ``was`` with spans replaced by placeholders — printable, no space, never
    empty — so it holds neither either, and normalising an ASCII text changes
    nothing else. Without ``\\``, ``%`` or ``&`` it has no decoded form.
    """
    return red.isascii() and id(was) in found and not any(map(red.__contains__, "\\%&"))


def _cache_verdict(
    cache: CacheConfig | None, temperature: float | None, forbidden_by: str | None
) -> tuple[bool, str]:
    """Whether the route's response cache applies to a request, and why (for ``explain``)."""
    if cache is None:
        return False, ""
    if forbidden_by is not None:
        return False, f"off: rule {forbidden_by} forbids caching"
    if not cache.ignore_temperature:
        # Unset means the provider's default, which is 1 on OpenAI-shaped APIs: sampled.
        if temperature is None:
            return False, "off: temperature unset (provider default 1); set 0 or ignore_temperature"
        if temperature > 0:
            return False, f"off: temperature {temperature:g} > 0; set 0 or ignore_temperature"
    return True, f"on: exact match, ttl {cache.ttl_s:g}s, up to {cache.max_entries} entries"


def _steer(
    ranked: list[Target],
    snap: Snapshot,
    need: int,
    excluded: dict[str, tuple[str, ...]],
    notes: list[str],
) -> list[Target]:
    """Leave out targets known to be at a rate limit (without room for ``need`` tokens)
    while another target remains.

    When every admitted target is limited they all stay, in order: the walk
    then waits for room (``max_wait_s``) or sends and lets the provider answer.
    """
    limited = {n: why for n, (room, why) in snap.rate_limited.items() if room < need}
    free = [t for t in ranked if t.name not in limited]
    if not free:
        notes.append(
            "every admitted target is at a rate limit: "
            + "; ".join(f"{t.name} ({limited[t.name]})" for t in ranked)
        )
        return ranked
    for t in ranked:
        if t.name in limited:
            excluded[t.name] = (*excluded.get(t.name, ()), f"rate limited: {limited[t.name]}")
    return free


def _summarise(matched: list[_Rule]) -> _Matched:
    """Combine matched rules: allows intersect, denies unite, the tightest limit wins
    (the first rule to set it is cited)."""
    sources: dict[str, str] = {}
    cost: float | None = None
    quality: float | None = None
    output: int | None = None
    latency: float | None = None
    required: set[str] = set()
    overrides: dict[str, str] = {}
    ruled: dict[str, list[str]] = {}
    for r in matched:
        for f in r.override:
            overrides.setdefault(f, r.name)
        if r.has_deny:
            for name, why in r.deny_hit.items():
                ruled.setdefault(name, []).append(why)
        if r.has_allow:
            for name, why in r.allow_fail.items():
                ruled.setdefault(name, []).append(why)
        if not r.has_limits:
            continue
        if r.limit_cost is not None and (cost is None or r.limit_cost < cost):
            cost, sources["max_cost_usd"] = r.limit_cost, r.source
        if r.limit_quality is not None and (quality is None or r.limit_quality > quality):
            quality, sources["min_quality"] = r.limit_quality, r.source
        if r.limit_output is not None and (output is None or r.limit_output < output):
            output, sources["max_output_tokens"] = r.limit_output, r.source
        if r.limit_latency is not None and (latency is None or r.limit_latency < latency):
            latency, sources["max_latency_ms"] = r.limit_latency, r.source
        for cap in r.require:
            required.add(cap)
            sources.setdefault(f"require:{cap}", r.source)
    return _Matched(
        names=tuple(r.name for r in matched),
        budgets=tuple((r.name, r.budget) for r in matched if r.budget is not None),
        rate_limits=tuple((r.name, r.rate) for r in matched if r.rate is not None),
        overrides=overrides,
        ruled={name: tuple(whys) for name, whys in ruled.items()},
        cost=cost,
        quality=quality,
        output=output,
        latency=latency,
        required=frozenset(required),
        sources=sources,
        no_cache=next((r.name for r in matched if r.no_cache), None),
    )


def _tokens(request: ChatRequest, embeddings: bool) -> tuple[int, int, int]:
    """Estimated input tokens, their bound, and what must fit a target's window.

    The same counts the budget gate's default counter makes (tool schemas
    included): the estimate, and the bound that reservations and the cost
    ceiling use. An embedding model reads each input on its own: its window
    bounds the longest.
    """
    texts = [t for t in request.iter_text() if t]
    extra = list(extra_texts(request))
    input_tokens = estimate_tokens(texts, len(request.messages)) + estimate_tokens(extra)
    input_bound = upper_bound_tokens((*texts, *extra), len(request.messages))
    window = estimate_tokens((max(texts, key=len),), 1) if embeddings and texts else input_tokens
    return input_tokens, input_bound, window


def _operation(t: Target) -> str:
    return "embeddings" if "embeddings" in t.capabilities else "chat"


def _wrong_operation(route: _Route, operation: str) -> RequestError:
    """The caller's mistake of calling a route for what none of its models serves."""
    if operation == "embeddings":
        return RequestError(
            f"route {route.name!r} has no embedding model (a model with "
            "capabilities: [embeddings]); call chat() for it, or add one to the route",
            field="model",
        )
    if operation == "chat":
        return RequestError(
            f"route {route.name!r} has only embedding models (capabilities: [embeddings]); "
            "call embed() for it",
            field="model",
        )
    raise ValueError(f"unknown operation {operation!r}; use chat or embeddings")


_MEMO_MAX = 4096


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    """Store in a bounded memo; a full memo starts over.

    Starting over costs a few recomputations; evicting one entry at a time
    from a plain dict would leave its front full of deleted slots that every
    later eviction has to walk past.
    """
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value


def _decision_id(request_id: str, route: str) -> str:
    return hashlib.blake2s(f"{request_id}|{route}".encode(), digest_size=8).hexdigest()


def decide(
    config: Config,
    request: ChatRequest,
    context: RequestContext | None = None,
    snapshot: Snapshot | None = None,
    *,
    model: str = "default",
) -> Decision:
    """Decide one request against ``config`` (compiles it; reuse a :class:`Policy` when hot)."""
    return Policy(config).decide(request, context, snapshot, model=model)
