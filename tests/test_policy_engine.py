"""The decision engine: effects, limits, fit checks, ranking, fail-closed, explanations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router import Router
from router.config.schema import Config
from router.errors import ConfigError, NoEligibleTarget, RequestError, UnknownRoute
from router.policy import Policy, Snapshot, decide
from router.types import ChatRequest, RequestContext
from tests.policy_fixtures import base_config, config, msg, policy, request

ROUTE = {"default": {"candidates": ["gpt", "hosted", "big", "small"]}}


def plan(p: Policy, req: ChatRequest | None = None, **ctx: Any) -> tuple[str, ...]:
    return p.decide(req or request(), RequestContext(**ctx)).target_names


def rule(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, **kw}


# --- effects -------------------------------------------------------------------------


def test_no_rules_plans_every_candidate_in_order() -> None:
    assert plan(policy()) == ("gpt", "hosted", "big", "small")


def test_allow_admits_only_matching_targets() -> None:
    p = policy(rules=[rule("local", allow={"zone": ["local"]})])
    d = p.decide(request())
    assert d.target_names == ("big", "small")
    assert d.excluded["gpt"] == ("rule local: allow zone [local], target has [frontier]",)


def test_allows_intersect() -> None:
    p = policy(
        rules=[
            rule("a", allow={"zone": ["local", "hosted"]}),
            rule("b", allow={"openness": ["fully_open", "open_weights_permissive"]}),
        ]
    )
    d = p.decide(request())
    assert d.target_names == ("hosted", "small")
    assert "rule b: allow openness" in d.excluded["big"][0]


def test_allow_fields_are_all_required_and_missing_attributes_fail_closed() -> None:
    p = policy(rules=[rule("eu-local", allow={"zone": ["local", "hosted"], "region": ["eu"]})])
    d = p.decide(request())
    assert d.target_names == ("hosted",)  # local targets have no region: not admitted
    assert d.excluded["big"] == ("rule eu-local: allow region [eu], target has unset",)


def test_denies_unite_and_deny_wins_over_allow() -> None:
    p = policy(
        rules=[
            rule("allow-all-zones", allow={"zone": ["local", "hosted", "frontier"]}),
            rule("no-cn", deny={"origin": ["CN"]}),
            rule("no-openai", deny={"provider": ["openai"]}),  # matches the provider kind
        ]
    )
    d = p.decide(request())
    assert d.target_names == ("big", "small")
    assert d.excluded == {
        "gpt": ("rule no-openai: deny provider [openai]",),
        "hosted": ("rule no-cn: deny origin [cn]",),
    }


def test_model_filter_matches_config_name_or_model_id() -> None:
    p = policy(rules=[rule("r", deny={"model": ["gpt", "big-model"]})])
    assert plan(p) == ("hosted", "small")


def test_filters_are_case_insensitive() -> None:
    p = policy(rules=[rule("r", allow={"license": ["Apache-2.0", "MIT"]})])
    assert plan(p) == ("hosted", "small")


def test_rules_that_do_not_match_have_no_effect() -> None:
    p = policy(rules=[rule("r", when={"tenant": "other"}, allow={"zone": ["local"]})])
    d = p.decide(request(), RequestContext(tenant="acme"))
    assert d.target_names == ("gpt", "hosted", "big", "small") and d.matched_rules == ()


def test_require_capabilities() -> None:
    p = policy(rules=[rule("tools", require=["tools"])])
    d = p.decide(request())
    assert "small" not in d.target_names
    assert d.excluded["small"] == ("capability: no tools (required by rule tools)",)


@pytest.mark.parametrize(
    ("params", "messages", "cap", "excluded"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, None, "tools", "small"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {}}},
            None,
            "json_schema",
            "big",
        ),
        (
            {},
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "vision",
            "big",
        ),
    ],
)
def test_request_needs_become_requirements(
    params: dict[str, Any], messages: list[Any] | None, cap: str, excluded: str
) -> None:
    req = ChatRequest.model_validate({"messages": messages or [msg("hi")], **params})
    d = policy().decide(req)
    assert cap in d.limits.required
    assert d.excluded[excluded] == (f"capability: no {cap} (required by request)",)


def test_context_window_fit() -> None:
    long = "word " * 4000  # ~5000 tokens
    d = policy().decide(request(long))
    assert d.excluded["small"][0].startswith("context window: 4096 < ~")
    d = policy().decide(request("short", max_tokens=5000))
    assert "+ 5000 output" in d.excluded["small"][0]


# --- limits --------------------------------------------------------------------------


def test_tightest_limits_win_and_name_their_source() -> None:
    p = policy(
        rules=[
            rule("a", limit={"max_cost_usd": 0.1, "min_quality": 60, "max_output_tokens": 500}),
            rule("b", limit={"max_cost_usd": 0.01, "min_quality": 40, "max_output_tokens": 900}),
        ]
    )
    d = p.decide(request())
    assert (d.limits.max_cost_usd, d.limits.min_quality, d.limits.max_output_tokens) == (
        0.01,
        60,
        500,
    )
    assert d.limits.sources["max_cost_usd"] == "rule b"
    assert d.limits.sources["min_quality"] == "rule a"
    assert d.output_tokens == 500
    assert d.excluded["small"] == ("quality: 50 < floor 60 (rule a)",)


def test_cost_ceiling_uses_the_worst_case() -> None:
    # gpt: 2 $/M in, 8 $/M out; 1000 output tokens alone cost $0.008.
    p = policy(rules=[rule("cap", limit={"max_cost_usd": 0.005})])
    d = p.decide(request(max_tokens=1000))
    assert "gpt" in d.excluded and d.excluded["gpt"][0].startswith("cost: worst case $0.008")
    assert d.target_names == ("hosted", "big", "small")
    # Priced on the input bound, as reservations are: a hard ceiling.
    assert d.costs["hosted"] == pytest.approx((d.input_tokens_bound + 1000) / 1e6)


def test_context_tightens_cost_but_never_loosens() -> None:
    p = policy(rules=[rule("cap", limit={"max_cost_usd": 0.005})])
    req = request(max_tokens=1000)
    assert "gpt" not in plan(p, req, max_cost_usd=1.0)
    assert "hosted" not in plan(p, req, max_cost_usd=0.0001)


def test_override_lets_a_rule_grant_loosening() -> None:
    p = policy(
        rules=[
            rule("cap", limit={"max_cost_usd": 0.005}),
            rule("batch", when={"tenant": "batch"}, override=["max_cost_usd"]),
        ]
    )
    req = request(max_tokens=1000)
    assert "gpt" in plan(p, req, tenant="batch", max_cost_usd=1.0)
    assert "gpt" not in plan(p, req, tenant="other", max_cost_usd=1.0)
    d = p.decide(req, RequestContext(tenant="batch", max_cost_usd=1.0))
    assert d.limits.sources["max_cost_usd"] == "context (override by rule batch)"


def test_quality_floor_is_the_highest_of_route_rules_and_request() -> None:
    routes = {"default": {"candidates": ["gpt", "hosted", "big", "small"], "min_quality": 60}}
    p = policy(routes=routes, rules=[rule("r", limit={"min_quality": 70})])
    assert plan(p) == ("gpt", "hosted", "big")
    assert plan(p, min_quality=85) == ("gpt",)
    assert plan(p, min_quality=10) == ("gpt", "hosted", "big")  # cannot lower


def test_quality_per_task_and_unknown_quality_fails_closed() -> None:
    data = base_config()
    del data["models"]["big"]["quality"]
    data["routes"] = {
        "code": {"candidates": ["gpt", "big", "small"], "task": "code", "min_quality": 45}
    }
    from router.config import load_dict

    d = Policy(load_dict(data)).decide(request(), model="code")
    assert d.target_names == ("gpt",)
    assert d.excluded["big"] == ("quality[code]: unknown, floor 45 (route code)",)
    assert d.excluded["small"] == ("quality[code]: 40 < floor 45 (route code)",)


def test_latency_limit_uses_the_snapshot() -> None:
    p = policy(rules=[rule("fast", limit={"max_latency_ms": 500})])
    snap = Snapshot(latency_ms={"gpt": 900, "hosted": 300})
    d = p.decide(request(), None, snap)
    assert d.excluded["gpt"] == ("latency: observed 900 ms > max_latency_ms 500 (rule fast)",)
    assert "big" in d.target_names  # unknown latency is admitted


# --- sensitivity ---------------------------------------------------------------------

CONF = [rule("home", when={"sensitivity": ">= confidential"}, allow={"zone": ["local"]})]


def test_detected_sensitivity_routes_home_and_reports_counts_only() -> None:
    d = policy(rules=CONF).decide(request("mail a@example.com and b@example.org"))
    assert d.target_names == ("big", "small")
    assert d.sensitivity.level == "confidential" and d.sensitivity.detected == "confidential"
    assert d.sensitivity.detectors == {"email": 2}
    dumped = json.dumps(d.to_dict()) + d.explain()
    assert "example.com" not in dumped and "example.org" not in dumped


def test_every_role_tool_arguments_and_results_are_scanned() -> None:
    p = policy(rules=CONF)
    args = ChatRequest.model_validate(
        {
            "messages": [
                msg("look it up"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "1",
                            "function": {"name": "f", "arguments": '{"to": "x@example.com"}'},
                        }
                    ],
                },
            ]
        }
    )
    result = ChatRequest.model_validate(
        {
            "messages": [
                msg("ok"),
                {"role": "tool", "tool_call_id": "1", "content": "SSN 123-45-6788"},
            ]
        }
    )
    system = ChatRequest.model_validate(
        {"messages": [msg("Key: AKIAIOSFODNN7EXAMPLE", role="system"), msg("hi")]}
    )
    for req in (args, result, system):
        assert p.decide(req).sensitivity.level == "confidential"


def test_default_level_and_declared_levels() -> None:
    p = policy(rules=CONF)
    assert p.decide(request()).sensitivity.level == "internal"
    d = p.decide(request(), RequestContext(sensitivity="restricted"))
    assert d.sensitivity.level == "restricted" and d.target_names == ("big", "small")


def test_declaring_a_lower_level_does_not_lower_it() -> None:
    d = policy(rules=CONF).decide(request("a@example.com"), RequestContext(sensitivity="public"))
    assert d.sensitivity.level == "confidential" and "gpt" not in d.target_names


def test_sensitivity_override_lets_a_trusted_rule_lower_it() -> None:
    rules = [*CONF, rule("trusted", when={"tenant": "lab"}, override=["sensitivity"])]
    p = policy(rules=rules)
    ctx = RequestContext(tenant="lab", sensitivity="public")
    d = p.decide(request("a@example.com"), ctx)
    assert d.sensitivity.level == "public" and d.target_names[0] == "gpt"
    assert "home" not in d.matched_rules


def test_unknown_declared_level_is_refused() -> None:
    with pytest.raises(RequestError, match="unknown sensitivity level") as e:
        policy().decide(request(), RequestContext(sensitivity="secret"))
    # The caller's mistake: a ValueError naming the levels, not a policy denial.
    assert isinstance(e.value, ValueError) and not isinstance(e.value, NoEligibleTarget)
    assert "confidential" in str(e.value) and e.value.field == "context.sensitivity"


def test_custom_detector_raises_to_its_level() -> None:
    sens = {
        "detect": [
            {"detector": "regex", "name": "codes", "pattern": r"PRJ-\d{4}", "level": "restricted"}
        ]
    }
    rules = [rule("r", when={"sensitivity": "restricted"}, allow={"model": ["small"]})]
    d = policy(sensitivity=sens, rules=rules).decide(request("about PRJ-1234"))
    assert d.target_names == ("small",) and d.sensitivity.detectors == {"codes": 1}


# --- routes and ranking --------------------------------------------------------------


def _route(**kw: Any) -> dict[str, Any]:
    return {"default": {"candidates": ["gpt", "hosted", "big", "small"], **kw}}


def test_select_cheapest_best_quality_fastest() -> None:
    assert plan(policy(routes=_route(select="cheapest"))) == ("big", "small", "hosted", "gpt")
    assert plan(policy(routes=_route(select="best_quality"))) == ("gpt", "hosted", "big", "small")
    p = policy(routes=_route(select="fastest"))
    snap = Snapshot(latency_ms={"small": 50, "gpt": 400, "hosted": 100})
    assert p.decide(request(), None, snap).target_names == ("small", "hosted", "gpt", "big")


def test_best_quality_uses_the_task() -> None:
    p = policy(routes=_route(select="best_quality", task="code"))
    assert plan(p)[0] == "gpt" and plan(p)[-1] == "small"


def test_weighted_is_ordered_for_now_with_a_note() -> None:
    d = policy(routes=_route(select="weighted")).decide(request())
    assert d.target_names == ("gpt", "hosted", "big", "small")
    assert any("weighted" in n for n in d.notes)


def test_unavailable_targets_rank_last() -> None:
    snap = Snapshot(unavailable=frozenset({"gpt"}))
    assert policy().decide(request(), None, snap).target_names == ("hosted", "big", "small", "gpt")


def test_fallback_off_plans_one_target() -> None:
    d = policy(routes=_route(fallback=False)).decide(request())
    assert d.target_names == ("gpt",) and not d.fallback


def test_a_model_name_is_a_one_candidate_route() -> None:
    assert plan_for(policy(), "big") == ("big",)
    with pytest.raises(UnknownRoute, match="nope"):
        policy().decide(request(), model="nope")


def plan_for(p: Policy, model: str) -> tuple[str, ...]:
    return p.decide(request(), model=model).target_names


def test_shadow_obeys_the_policy() -> None:
    routes = {"default": {"candidates": ["big"], "shadow": {"model": "gpt", "sample_pct": 10}}}
    p = policy(routes=routes, rules=CONF)
    d = p.decide(request())
    assert [t.name for t in d.shadow] == ["gpt"] and d.target_names == ("big",)
    d = p.decide(request("a@example.com"))
    assert d.shadow == () and "gpt" in d.excluded
    assert any("shadow gpt not admitted" in n for n in d.notes)


# --- fail closed, determinism, outputs -----------------------------------------------


def test_empty_plan_raises_with_the_whole_explanation() -> None:
    p = policy(rules=[*CONF, rule("no-local", deny={"zone": ["local"]})])
    with pytest.raises(NoEligibleTarget) as info:
        p.decide(request("a@example.com"))
    d = info.value.decision
    assert d is not None and d.plan == ()
    assert set(d.excluded) == {"gpt", "hosted", "big", "small"}
    assert "fail closed" in str(info.value) and "rule no-local: deny zone [local]" in str(
        info.value
    )


def test_equal_inputs_give_equal_decisions() -> None:
    p = policy(rules=CONF)
    snap = Snapshot(request_id="r-1")
    a = p.decide(request("a@example.com"), RequestContext(tenant="t"), snap)
    b = Policy(config(rules=CONF)).decide(
        request("a@example.com"), RequestContext(tenant="t"), snap
    )
    assert a == b and a.id == b.id
    assert p.decide(request(), None, Snapshot(request_id="r-2")).id != a.id


def test_budgets_of_every_matching_rule() -> None:
    rules = [
        rule("all", budget={"usd": 100, "per": "day"}),
        rule("acme", when={"tenant": "acme"}, budget={"usd": 5, "per": "hour", "key": "user"}),
        rule("other", when={"tenant": "other"}, budget={"usd": 1, "per": "day"}),
    ]
    d = policy(rules=rules).decide(request(), RequestContext(tenant="acme"))
    assert [(n, b.usd) for n, b in d.budgets] == [("all", 100), ("acme", 5)]


def test_to_dict_is_json_and_explain_is_a_table() -> None:
    d = policy(rules=CONF).decide(request("a@example.com"), RequestContext(max_cost_usd=1))
    data = json.loads(json.dumps(d.to_dict()))
    assert data["plan"][0]["target"] == "big" and data["sensitivity"]["detectors"] == {"email": 1}
    assert data["limits"]["sources"]["max_cost_usd"] == "context"
    text = d.explain()
    assert (
        "planned: primary" in text
        and "excluded: rule home" in text
        and "detected: email x1" in text
    )


def test_module_level_decide() -> None:
    assert decide(config(), request()).target_names[0] == "gpt"


def test_router_explain_uses_the_engine() -> None:
    data = base_config()
    data["rules"] = CONF
    with Router.from_dict(data) as r:
        d = r.explain([msg("card 4111 1111 1111 1111")], context={"tenant": "x"})
    assert d.target_names == ("big", "small") and d.sensitivity.detectors == {"payment_card": 1}


# --- config errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([rule("r", allow={"openness": ["open"]})], "unknown openness"),
        ([rule("r", deny={"data_retention": ["forever"]})], "unknown data_retention"),
        ([rule("r", allow={})], "empty allow"),
        ([rule("r", override=["tenant"])], "cannot override"),
        ([rule("r", when={"sensitivity": ">= top-secret"})], "unknown level"),
    ],
)
def test_bad_rules_raise_config_error_naming_the_rule(rules: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        policy(rules=rules)
    assert "r" in (info.value.key or "")


def test_route_with_undefined_candidate() -> None:
    data = base_config()
    data["routes"] = {"default": {"candidates": ["ghost"]}}
    with pytest.raises(ConfigError, match="ghost"):
        Policy(Config.model_validate(data))


# --- catalog -------------------------------------------------------------------------


def test_catalog_entries_are_defaults_config_overrides() -> None:
    data = base_config()
    data["models"]["llama"] = {
        "provider": "host",
        "model": "m",
        "catalog": "llama-3.3-70b@together",
    }
    data["models"]["gpt"] = {**data["models"]["gpt"], "catalog": "gpt-4.1@openai"}
    from router.config import load_dict

    p = Policy(load_dict(data))
    llama, gpt = p.targets["llama"], p.targets["gpt"]
    assert llama.license == "llama3.3-community" and llama.openness == "open_weights_restricted"
    assert llama.price is not None and llama.price.input == 0.88 and llama.price.source
    assert llama.context_window == 131072
    assert gpt.price is not None and gpt.price.input == 2.0  # the config's price wins
    assert gpt.context_window == 1047576  # inherited


def test_unknown_catalog_entry() -> None:
    data = base_config()
    data["models"]["gpt"]["catalog"] = "gpt-99"
    from router.config import load_dict

    with pytest.raises(ConfigError, match="gpt-99"):
        Policy(load_dict(data))
