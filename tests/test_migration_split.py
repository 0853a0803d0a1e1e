"""Weighted sticky splits: distribution, stickiness across weight changes, policy exclusions."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from router.config import load_dict
from router.config.schema import RouteConfig
from router.errors import ConfigError
from router.migration import apply_split, arm_weights, pick
from router.policy import Decision, Policy, Snapshot
from router.types import ChatRequest, RequestContext

from .migration_fixtures import ASK, migration_config

N = 100_000


def shares(weights: dict[str, float], n: int = N, route: str = "r") -> dict[str, float]:
    got = Counter(pick(route, f"user={i}", weights) for i in range(n))
    return {k: got[k] / n for k in weights}


@pytest.mark.parametrize(
    "weights",
    [
        {"local": 20.0, "gpt": 80.0},
        {"a": 10.0, "b": 30.0, "c": 60.0},
        {"a": 1.0, "b": 1.0, "c": 1.0, "d": 97.0},
    ],
)
def test_100k_users_land_within_one_percent_of_the_weights(weights: dict[str, float]) -> None:
    total = sum(weights.values())
    got = shares(weights)
    for arm, w in weights.items():
        assert abs(got[arm] - w / total) < 0.01, (arm, got[arm], w / total)


def test_zero_weight_arm_gets_nobody_and_none_when_all_zero() -> None:
    assert shares({"a": 0.0, "b": 5.0}, 2000)["a"] == 0
    assert pick("r", "user=1", {"a": 0.0, "b": 0.0}) is None


def test_a_user_keeps_their_arm() -> None:
    w = {"local": 50.0, "gpt": 50.0}
    first = {u: pick("r", f"user={u}", w) for u in range(1000)}
    assert all(pick("r", f"user={u}", w) == arm for u, arm in first.items())
    # Another route assigns independently (not the same users always first).
    other = {u: pick("other", f"user={u}", w) for u in range(1000)}
    assert other != first


M = 50_000  # users in the stickiness tests


def _moves(before: dict[str, float], after: dict[str, float]) -> Counter[tuple[str, str]]:
    moved: Counter[tuple[str, str]] = Counter()
    for i in range(M):
        a, b = pick("r", f"user={i}", before), pick("r", f"user={i}", after)
        if a != b:
            assert a is not None and b is not None
            moved[(a, b)] += 1
    return moved


def test_a_weight_change_moves_only_the_users_who_must_move_two_arms() -> None:
    moved = _moves({"local": 20.0, "gpt": 80.0}, {"local": 30.0, "gpt": 70.0})
    # Only gpt -> local moves, and about 10% of users do (the minimum).
    assert set(moved) == {("gpt", "local")}
    assert abs(moved[("gpt", "local")] / M - 0.10) < 0.01


def test_a_weight_change_moves_only_the_users_who_must_move_three_arms() -> None:
    # Raising the middle arm: cumulative intervals would also shuffle c's
    # users into b; rendezvous hashing moves users only *into* b.
    before, after = {"a": 20.0, "b": 30.0, "c": 50.0}, {"a": 20.0, "b": 55.0, "c": 50.0}
    moved = _moves(before, after)
    assert {dst for _, dst in moved} == {"b"}
    minimum = 55 / 125 - 30 / 100  # b's share grows from 30% to 44%
    assert abs(sum(moved.values()) / M - minimum) < 0.01


def test_an_arbitrary_reweighting_moves_close_to_the_minimum() -> None:
    before, after = {"a": 20.0, "b": 30.0, "c": 50.0}, {"a": 15.0, "b": 45.0, "c": 40.0}
    moved = _moves(before, after)
    minimum = 0.15  # total variation distance between the two splits
    assert minimum - 0.01 < sum(moved.values()) / M < minimum + 0.01


def test_a_rolled_back_arm_releases_only_its_own_users_and_gets_them_back() -> None:
    on = {"local": 40.0, "gpt": 30.0, "sonnet": 30.0}
    off = {**on, "local": 0.0}
    moved = _moves(on, off)
    assert {src for src, _ in moved} == {"local"}
    dests = Counter()
    for (_, dst), n in moved.items():
        dests[dst] += n
    # Its users spread over the others in proportion to their weights (1:1).
    assert abs(dests["gpt"] / sum(dests.values()) - 0.5) < 0.02
    assert all(pick("r", f"user={i}", on) == pick("r", f"user={i}", on) for i in range(100))


# -- apply_split on real Decisions ------------------------------------------


def _setup(**route: Any) -> tuple[Policy, RouteConfig]:
    cfg = load_dict(migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", **route))
    return Policy(cfg), cfg.routes["support"]


def _decide(policy: Policy, ctx: RequestContext, rid: str = "req-1") -> Decision:
    snap = Snapshot(now=0.0, request_id=rid)
    return policy.decide(ChatRequest(messages=ASK), ctx, snap, model="support")  # type: ignore[arg-type]


def test_split_puts_the_arm_first_keeps_the_rest_and_explains() -> None:
    policy, route = _setup()
    ctx = RequestContext(user="alice")
    d = apply_split(_decide(policy, ctx), route, ctx, now=0.0)
    arm = pick("support", "user=alice", {"llama": 20.0, "gpt": 80.0})
    assert d.plan[0].name == arm
    assert sorted(d.target_names) == ["gpt", "llama"]
    note = next(n for n in d.notes if n.startswith("split: arm"))
    assert f"arm {arm}" in note and "sticky by user" in note
    assert d.extra["split"]["arm"] == arm
    assert "split: arm" in d.explain()


def test_split_is_deterministic_without_a_user() -> None:
    policy, route = _setup()
    ctx = RequestContext()
    arms = set()
    for rid in ("r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"):
        one = apply_split(_decide(policy, ctx, rid), route, ctx, 0.0, request_id=rid)
        two = apply_split(_decide(policy, ctx, rid), route, ctx, 0.0, request_id=rid)
        assert one.plan == two.plan
        assert any("not sticky: the request has no user" in n for n in one.notes)
        arms.add(one.plan[0].name)
    assert arms == {"llama", "gpt"}  # not a constant choice


@pytest.mark.parametrize(
    "by,ctx",
    [
        ("tenant", RequestContext(tenant="acme")),
        ("metadata.session", RequestContext(metadata={"session": "s-42"})),
    ],
)
def test_sticky_by_tenant_and_metadata(by: str, ctx: RequestContext) -> None:
    policy, route = _setup(sticky_by=by)
    plans = {
        apply_split(_decide(policy, ctx, f"r{i}"), route, ctx, 0.0, request_id=f"r{i}").target_names
        for i in range(20)
    }
    assert len(plans) == 1
    assert any(
        f"sticky by {by}" in n for n in apply_split(_decide(policy, ctx), route, ctx, 0.0).notes
    )


def test_an_arm_excluded_by_policy_gives_its_share_to_the_others() -> None:
    policy, route = _setup()
    # Find users assigned to llama, then let the policy exclude llama.
    users = [f"u{i}" for i in range(200)]
    on_llama = [
        u for u in users if pick("support", f"user={u}", {"llama": 20, "gpt": 80}) == "llama"
    ]
    assert on_llama
    for u in on_llama[:5]:
        ctx = RequestContext(user=u)
        d = _decide(policy, ctx)
        d = replace(
            d,
            plan=tuple(t for t in d.plan if t.name != "llama"),
            excluded={"llama": ("rule x: zone local not allowed",)},
        )
        out = apply_split(d, route, ctx, 0.0)
        assert out.target_names == ("gpt",)  # the split never adds an excluded target back
        assert any("arm llama excluded by policy" in n and "20.0%" in n for n in out.notes)
        assert any("arm gpt (100.0% of this request's arms" in n for n in out.notes)


def test_a_rolled_back_arm_goes_last_and_is_never_first() -> None:
    policy, route = _setup()
    for i in range(50):
        ctx = RequestContext(user=f"u{i}")
        d = apply_split(_decide(policy, ctx), route, ctx, 0.0, {"llama": "error_rate too high"})
        assert d.target_names == ("gpt", "llama")
        assert any("rolled back by its guard" in n for n in d.notes)


def test_no_split_leaves_the_decision_alone() -> None:
    cfg = load_dict(migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"))
    policy = Policy(cfg)
    d = policy.decide(ChatRequest(messages=ASK), None, Snapshot(), model="gpt")  # type: ignore[arg-type]
    assert apply_split(d, RouteConfig(candidates=("gpt",)), RequestContext(), 0.0) is d


def test_weights_normalise_to_percent() -> None:
    _, route = _setup(split=[{"model": "llama", "weight": 1}, {"model": "gpt", "weight": 3}])
    assert arm_weights(route, 0.0) == {"llama": 25.0, "gpt": 75.0}
    assert arm_weights(route, 0.0, {"llama": "x"}) == {"llama": 0.0, "gpt": 75.0}


@pytest.mark.parametrize(
    "route,msg",
    [
        ({"sticky_by": "ip"}, "sticky_by is user, tenant or metadata"),
        (
            {"split": [{"model": "gpt", "weight": 1}, {"model": "gpt", "weight": 2}]},
            "each model once",
        ),
        (
            {"guard": {"model": "nope", "baseline": "gpt", "max_ratio": 2}},
            "must be one of the split",
        ),
        ({"guard": {"model": "llama", "baseline": "gpt"}}, "needs max_ratio"),
        ({"shadow": {"model": "ghost", "sample_pct": 5}}, "'ghost' is not defined"),
    ],
)
def test_bad_migration_config_is_a_located_error(route: dict[str, Any], msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        load_dict(migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", **route))
