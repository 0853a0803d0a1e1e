"""Property tests over random configs, requests and contexts.

Rules here use only monotone conditions (``>=``/``>`` on sensitivity, tag
``any``/``all``, tenant): with them, making a request stricter can only make
more rules match, and rules only restrict. A rule conditioned on
``sensitivity: "== public"`` or granting ``override`` may loosen by design,
so those are left out of the monotonicity properties.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.accounting.pricing import output_tokens_for, worst_case_cost_usd
from router.config import load_dict
from router.errors import NoEligibleTarget
from router.policy import Decision, Policy, Snapshot
from router.types import ChatRequest, RequestContext

LEVELS = ["public", "internal", "confidential", "restricted"]
ZONES = ["local", "hosted", "frontier"]
OPENNESS = ["closed", "open_weights_restricted", "open_weights_permissive", "fully_open"]
LICENSES = ["apache-2.0", "mit", "llama3.3-community", "proprietary"]
CAPS = ["tools", "json_schema", "vision", "streaming"]
TENANTS = ["acme", "globex", "initech"]
TAGS = ["audit", "free", "premium"]
FRAGMENTS = [
    "What is the capital of France?",
    "mail jane@example.com",
    "card 4111 1111 1111 1111",
    "order 4111 1111 1111 1112",
    "word " * 300,
    "IBAN DE89 3704 0044 0532 0130 00",
    "meeting on 2024-01-15",
]

PROVIDERS = {
    z: {"kind": "openai_compatible", "base_url": f"http://127.0.0.1:9/{z}", "zone": z}
    for z in ZONES
}


@st.composite
def models(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(2, 7))
    out = {}
    for i in range(n):
        m: dict[str, Any] = {
            "provider": draw(st.sampled_from(ZONES)),
            "model": f"m{i}",
            "openness": draw(st.sampled_from(OPENNESS)),
            "license": draw(st.sampled_from(LICENSES)),
            "capabilities": draw(st.lists(st.sampled_from(CAPS), unique=True)),
        }
        if draw(st.booleans()):
            m["region"] = draw(st.sampled_from(["eu", "us"]))
        if draw(st.booleans()):
            m["price"] = {"input": draw(st.floats(0, 20)), "output": draw(st.floats(0, 60))}
        if draw(st.booleans()):
            m["quality"] = draw(st.integers(0, 100))
        if draw(st.booleans()):
            m["context_window"] = draw(st.integers(100, 20000))
        out[f"t{i}"] = m
    return out


@st.composite
def rules(draw: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(0, 6))):
        r: dict[str, Any] = {"name": f"r{i}"}
        when: dict[str, Any] = {}
        if draw(st.booleans()):
            op = draw(st.sampled_from([">=", ">"]))
            when["sensitivity"] = f"{op} {draw(st.sampled_from(LEVELS[:-1]))}"
        if draw(st.booleans()):
            when["tags"] = {
                draw(st.sampled_from(["any", "all"])): draw(
                    st.lists(st.sampled_from(TAGS), min_size=1, unique=True)
                )
            }
        if draw(st.booleans()):
            when["tenant"] = draw(st.sampled_from(TENANTS))
        if when:
            r["when"] = when
        effect = draw(st.sampled_from(["allow", "deny", "limit", "require"]))
        if effect in ("allow", "deny"):
            field, values = draw(
                st.sampled_from(
                    [
                        ("zone", ZONES),
                        ("openness", OPENNESS),
                        ("license", LICENSES),
                        ("region", ["eu", "us"]),
                    ]
                )
            )
            r[effect] = {field: draw(st.lists(st.sampled_from(values), min_size=1, unique=True))}
        elif effect == "limit":
            r["limit"] = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "max_cost_usd": st.floats(0, 0.05),
                        "min_quality": st.integers(0, 100),
                        "max_output_tokens": st.integers(1, 4000),
                    },
                ).filter(bool)
            )
        else:
            r["require"] = draw(st.lists(st.sampled_from(CAPS), min_size=1, unique=True))
        out.append(r)
    return out


@st.composite
def configs(draw: Any) -> Policy:
    ms = draw(models())
    route: dict[str, Any] = {
        "candidates": list(ms),
        "select": draw(st.sampled_from(["ordered", "cheapest", "best_quality", "fastest"])),
    }
    if draw(st.booleans()):
        route["min_quality"] = draw(st.integers(0, 100))
    data = {
        "providers": PROVIDERS,
        "models": ms,
        "rules": draw(rules()),
        "routes": {"default": route},
    }
    return Policy(load_dict(data))


requests = st.builds(
    lambda texts, max_tokens, tools: ChatRequest.model_validate(
        {
            "messages": [{"role": "user", "content": t} for t in texts],
            "max_tokens": max_tokens,
            "tools": [{"type": "function", "function": {"name": "f"}}] if tools else None,
        }
    ),
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=3),
    st.none() | st.integers(1, 4000),
    st.booleans(),
)
contexts = st.builds(
    RequestContext,
    tenant=st.none() | st.sampled_from(TENANTS),
    tags=st.lists(st.sampled_from(TAGS), unique=True).map(tuple),
    sensitivity=st.none() | st.sampled_from(LEVELS),
    max_cost_usd=st.none() | st.floats(0, 0.1),
    min_quality=st.none() | st.integers(0, 100),
)
snapshots = st.builds(
    Snapshot,
    request_id=st.text("abc", max_size=4),
    latency_ms=st.dictionaries(st.sampled_from([f"t{i}" for i in range(7)]), st.floats(1, 2000)),
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(p: Policy, req: ChatRequest, ctx: RequestContext, snap: Snapshot) -> Decision:
    try:
        return p.decide(req, ctx, snap)
    except NoEligibleTarget as e:
        assert isinstance(e.decision, Decision) and e.decision.plan == ()
        return e.decision


def planned(p: Policy, req: ChatRequest, ctx: RequestContext, snap: Snapshot) -> set[str]:
    return set(run(p, req, ctx, snap).target_names)


@SETTINGS
@given(configs(), requests, contexts, snapshots)
def test_every_planned_target_satisfies_every_matched_constraint(
    p: Policy, req: ChatRequest, ctx: RequestContext, snap: Snapshot
) -> None:
    d = run(p, req, ctx, snap)
    rules = {r.name: r for r in p.config.rules}
    route = p.config.routes["default"]
    assert set(d.target_names) <= set(route.candidates)
    assert set(d.target_names).isdisjoint(d.excluded)
    assert set(d.target_names) | set(d.excluded) == set(route.candidates)
    assert all(d.excluded.values()), "every exclusion has a reason"
    lim = d.limits
    # The limits in force are at least as tight as every source.
    for name in d.matched_rules:
        r = rules[name]
        if r.limit and r.limit.max_cost_usd is not None:
            assert lim.max_cost_usd is not None and lim.max_cost_usd <= r.limit.max_cost_usd
        if r.limit and r.limit.min_quality is not None:
            assert lim.min_quality is not None and lim.min_quality >= r.limit.min_quality
        for cap in r.require or ():
            assert cap in lim.required
    if ctx.max_cost_usd is not None:
        assert lim.max_cost_usd is not None and lim.max_cost_usd <= ctx.max_cost_usd
    if ctx.min_quality is not None:
        assert lim.min_quality is not None and lim.min_quality >= ctx.min_quality
    if route.min_quality is not None:
        assert lim.min_quality is not None and lim.min_quality >= route.min_quality
    if ctx.sensitivity is not None:
        assert LEVELS.index(d.sensitivity.level) >= LEVELS.index(ctx.sensitivity)
    for t in d.plan:
        for name in d.matched_rules:
            r = rules[name]
            if r.allow is not None:
                for field in ("zone", "openness", "license", "region"):
                    allowed = getattr(r.allow, field)
                    if allowed is not None:
                        assert getattr(t, field) in allowed
            if r.deny is not None:
                for field in ("zone", "openness", "license", "region"):
                    denied = getattr(r.deny, field)
                    if denied is not None:
                        assert getattr(t, field) not in denied
        assert lim.required <= t.capabilities
        if lim.min_quality is not None:
            q = t.quality_for(None)
            assert q is not None and q >= lim.min_quality
        if lim.max_cost_usd is not None:
            assert d.costs[t.name] <= lim.max_cost_usd
            out = output_tokens_for(t, d.output_tokens)
            assert worst_case_cost_usd(t, d.input_tokens_bound, out) == d.costs[t.name]
        if t.context_window is not None:
            assert d.input_tokens + (d.output_tokens or 0) <= t.context_window


@SETTINGS
@given(configs(), requests, contexts, snapshots, st.integers(1, 3))
def test_raising_sensitivity_never_adds_a_target(
    p: Policy, req: ChatRequest, ctx: RequestContext, snap: Snapshot, step: int
) -> None:
    low = ctx.sensitivity or "public"
    high = LEVELS[min(LEVELS.index(low) + step, len(LEVELS) - 1)]
    before = planned(p, req, ctx, snap)
    after = planned(p, req, ctx.model_copy(update={"sensitivity": high}), snap)
    assert after <= before


@SETTINGS
@given(configs(), requests, contexts, snapshots, st.data())
def test_tightening_the_context_never_adds_a_target(
    p: Policy, req: ChatRequest, ctx: RequestContext, snap: Snapshot, data: st.DataObject
) -> None:
    before = planned(p, req, ctx, snap)
    update: dict[str, Any] = {}
    cost = data.draw(st.floats(0, 0.1))
    update["max_cost_usd"] = cost if ctx.max_cost_usd is None else min(cost, ctx.max_cost_usd)
    q = data.draw(st.integers(0, 100))
    update["min_quality"] = q if ctx.min_quality is None else max(q, ctx.min_quality)
    update["tags"] = tuple(sorted({*ctx.tags, *data.draw(st.lists(st.sampled_from(TAGS)))}))
    first = run(p, req, ctx, snap)
    then = run(p, req, ctx.model_copy(update=update), snap)
    for name in set(then.target_names) - before:
        # The one way a stricter context admits a target: a rule it now matches caps
        # the output, so a small context window fits the smaller worst case. Every
        # policy exclusion (rules, cost, quality, capabilities) still holds.
        assert all(r.startswith("context window") for r in first.excluded[name]), name
        cap, was = then.limits.max_output_tokens, first.limits.max_output_tokens
        assert cap is not None and (was is None or cap < was), name


@SETTINGS
@given(configs(), requests, contexts, snapshots)
def test_equal_inputs_give_equal_decisions(
    p: Policy, req: ChatRequest, ctx: RequestContext, snap: Snapshot
) -> None:
    a = run(p, req, ctx, snap)
    b = run(Policy(p.config), req.model_copy(deep=True), ctx.model_copy(), snap)
    assert a == b
    assert a.to_dict() == b.to_dict() and a.explain() == b.explain()
