"""Trust filters mean one thing: the engine and ``audit verify`` share router.policy.trust."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import router.telemetry.audit as audit
from router.config import load_dict
from router.policy import Policy, trust

ZONES = ["local", "hosted", "frontier"]
REGIONS = ["eu", "us", None]
OPENNESS = ["closed", "open_weights_permissive", "fully_open", None]


@st.composite
def setups(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    providers, models = {}, {}
    for i in range(n):
        providers[f"p{i}"] = {
            "kind": "openai_compatible",
            "base_url": "http://127.0.0.1:9/v1",
            "zone": draw(st.sampled_from(ZONES)),
            **({"region": r} if (r := draw(st.sampled_from(REGIONS))) else {}),
        }
        models[f"m{i}"] = {
            "provider": f"p{i}",
            "model": f"id-{i}",
            **({"openness": o} if (o := draw(st.sampled_from(OPENNESS))) else {}),
        }
    field = st.sampled_from(["zone", "region", "openness", "provider", "model"])
    picks = {
        "zone": st.lists(st.sampled_from(ZONES), min_size=1, max_size=2),
        "region": st.lists(st.sampled_from(["eu", "us", "EU"]), min_size=1, max_size=2),
        "openness": st.lists(st.sampled_from([o for o in OPENNESS if o]), min_size=1, max_size=2),
        "provider": st.lists(st.sampled_from([*providers, "openai_compatible"]), min_size=1),
        "model": st.lists(st.sampled_from([*models, "id-0", "ID-1"]), min_size=1, max_size=2),
    }
    rules = []
    for j in range(draw(st.integers(1, 3))):
        effect = draw(st.sampled_from(["allow", "deny"]))
        names = draw(st.lists(field, min_size=1, max_size=2, unique=True))
        rules.append({"name": f"r{j}", effect: {f: draw(picks[f]) for f in names}})
    return {
        "providers": providers,
        "models": models,
        "routes": {"default": {"candidates": list(models)}},
        "rules": rules,
    }


@given(setups())
@settings(max_examples=150, deadline=None)
def test_the_engine_and_the_verifier_exclude_the_same_targets(cfg: dict[str, Any]) -> None:
    config = load_dict(cfg)
    policy = Policy(config)
    for rule, compiled in zip(config.rules, policy.rules, strict=True):
        for name, target in policy.targets.items():
            attrs = trust.attributes(target)
            if rule.allow is not None:
                verdict = audit._allow_failure(rule.allow, attrs)
                assert (verdict is not None) == (name in compiled.allow_fail)
            if rule.deny is not None:
                verdict = audit._deny_hit(rule.deny, attrs)
                assert (verdict is not None) == (name in compiled.deny_hit)


def test_the_verifier_keeps_no_copy_of_the_semantics() -> None:
    assert not [n for n in vars(audit) if "TRUST_FIELDS" in n or n == "_values"]
