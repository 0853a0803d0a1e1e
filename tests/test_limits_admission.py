"""A call under a budget and limits: both taken at admission in one store operation.

The budget hold and the first planned target's limits go to the store as one
``admit`` (one Lua script on Redis); the walk's first try uses that grant
without another operation. The rare paths — the walk starts on another target,
the budget refuses or narrows the plan, the limit refuses — keep the semantics
of two separate operations. Then: what a try that ends without an answer keeps
of its ``tpm`` estimate.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from typing import Any

import pytest

from router import AsyncRouter, Router
from router.errors import BudgetExceeded, ProviderError
from router.state import MemoryStore
from router.state.base import Admitted, LimitCharge
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config

pytest_plugins = ["tests.resilience_fixtures"]

MODES = ("sync", "async")
RECORDED = {
    "admit",
    "budget_reserve",
    "budget_commit",
    "budget_release",
    "limit_acquire",
    "limit_release",
}
TENANT = {"tenant": "acme"}


class Recording(MemoryStore):
    """A memory store that lists its budget and limit operations, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.after_admit: str | None = None
        """A breaker to open right after an admission (another process, say)."""

    def __getattribute__(self, name: str) -> Any:
        if name in RECORDED:
            object.__getattribute__(self, "ops").append(name)
        return super().__getattribute__(name)

    def admit(self, *args: Any, **kwargs: Any) -> Admitted:
        out = super().admit(*args, **kwargs)
        if self.after_admit is not None:
            self.set(f"brk:{self.after_admit}:open", "1", ttl_s=60)
            self.set(f"brk:{self.after_admit}:tripped", "1", ttl_s=60)
        return out


def _config(faults: FaultServer, budget_usd: float = 100.0, **limits: Any) -> dict[str, Any]:
    """Priced targets a then b behind route ``r``, a tenant budget, ``limits`` per model."""
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}], retry={"attempts": 1})
    for name in ("a", "b"):
        cfg["models"][name]["price"] = {"input": 1.0, "output": 2.0}
    for name, lim in limits.items():
        cfg["models"][name]["limits"] = lim
    cfg["rules"] = [{"name": "team", "budget": {"usd": budget_usd, "per": "day", "key": "tenant"}}]
    return cfg


def _call(cfg: dict[str, Any], store: MemoryStore, mode: str, n: int = 1) -> list[Any]:
    """``n`` calls through one router on ``store``: each a response or the error raised."""
    if mode == "sync":
        out: list[Any] = []
        with Router(cfg, store=store) as r:
            for _ in range(n):
                try:
                    out.append(r.chat(MESSAGES, model="r", context=TENANT))
                except (ProviderError, BudgetExceeded) as e:
                    out.append(e)
        return out

    async def go() -> list[Any]:
        got: list[Any] = []
        async with AsyncRouter(cfg, store=store) as r:
            for _ in range(n):
                try:
                    got.append(await r.chat(MESSAGES, model="r", context=TENANT))
                except (ProviderError, BudgetExceeded) as e:
                    got.append(e)
        return got

    return asyncio.run(go())


def _fits(store: MemoryStore, charges: Sequence[LimitCharge]) -> bool:
    """Whether ``charges`` fit now (taken if they do: probe last)."""
    return store.limit_acquire("probe", charges, now=time.time(), hold_s=1).ok


def _rpm(target: str, limit: int = 1) -> LimitCharge:
    return LimitCharge(f"model:{target}:rpm", limit, 1.0, 60.0)


def _slot(target: str, limit: int = 1) -> LimitCharge:
    return LimitCharge(f"model:{target}:inflight", limit)


# -- the common case: one operation at admission -----------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_call_under_a_budget_and_limits_takes_both_in_one_operation(
    faults: FaultServer, mode: str
) -> None:
    store = Recording()
    cfg = _config(faults, a={"rpm": 10, "tpm": 100_000, "max_in_flight": 2})
    cfg["rules"].append({"name": "fair", "limit": {"rpm": 5, "key": "tenant"}})
    (reply,) = _call(cfg, store, mode)
    assert reply.route.target == "a"
    # Admission: one operation for the hold and every limit (the rule's, the
    # model's); the try used its grant; the settlement gives the slot back and
    # corrects tpm (one operation), then commits the spend.
    assert store.ops == ["admit", "limit_release", "budget_commit"]
    assert faults.count("a") == 1
    # What admission took was counted: one request of each window, the slot back.
    assert not _fits(store, [_rpm("a", 1)])
    assert _fits(store, [_slot("a", 1)])
    assert not _fits(store, [LimitCharge("rule:fair:tenant=acme:rpm", 1, 1.0, 60.0)])


@pytest.mark.parametrize("mode", MODES)
def test_without_limits_admission_is_the_budget_hold_alone(faults: FaultServer, mode: str) -> None:
    store = Recording()
    (reply,) = _call(_config(faults), store, mode)
    assert reply.route.target == "a"
    assert store.ops == ["budget_reserve", "budget_commit"]


# -- the rare paths ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_walk_that_starts_elsewhere_gives_the_first_targets_limits_back(
    faults: FaultServer, mode: str
) -> None:
    store = Recording()
    store.after_admit = "a"  # a's breaker opens between admission and the walk
    cfg = _config(faults, a={"rpm": 1, "max_in_flight": 1}, b={"rpm": 5})
    cfg["providers"]["a"]["breaker"] = {"failures": 5, "window_s": 60, "cooldown_s": 30}
    (reply,) = _call(cfg, store, mode)
    assert [(x.target, x.outcome) for x in reply.route.attempts] == [
        ("a", "breaker_open"),
        ("b", "ok"),
    ]
    # a's grant given back (one extra operation, on this path only), b's taken.
    assert store.ops == ["admit", "limit_release", "limit_acquire", "budget_commit"]
    assert faults.count("a") == 0
    assert _fits(store, [_rpm("a"), _slot("a")])  # neither a's request nor its slot was kept
    assert not _fits(store, [_rpm("b", 1)])  # b's request was counted


@pytest.mark.parametrize("mode", MODES)
def test_a_budget_refusal_takes_no_limit(faults: FaultServer, mode: str) -> None:
    store = Recording()
    (err,) = _call(_config(faults, budget_usd=1e-9, a={"rpm": 1, "max_in_flight": 1}), store, mode)
    assert isinstance(err, BudgetExceeded)
    assert store.ops == ["admit"]
    assert faults.count("a") == 0
    assert _fits(store, [_rpm("a"), _slot("a")])


@pytest.mark.parametrize("mode", MODES)
def test_local_only_narrowing_takes_the_local_targets_limits_in_the_walk(
    faults: FaultServer, mode: str
) -> None:
    store = Recording()
    cfg = _config(faults, budget_usd=1e-9, a={"rpm": 1}, b={"rpm": 1})
    cfg["rules"][0]["budget"]["on_exhausted"] = "local_only"
    cfg["providers"]["b"]["zone"] = "local"
    del cfg["models"]["b"]["price"]  # zero marginal cost: what local_only keeps
    (reply,) = _call(cfg, store, mode)
    assert reply.route.target == "b"
    assert [(x.target, x.outcome) for x in reply.route.attempts] == [("b", "ok")]
    # The hold was refused, so a's limits were never taken; b's were, by the walk.
    assert store.ops == ["admit", "limit_acquire"]
    assert _fits(store, [_rpm("a")])
    assert not _fits(store, [_rpm("b")])


@pytest.mark.parametrize("mode", MODES)
def test_a_limit_refused_at_admission_skips_to_the_next_target(
    faults: FaultServer, mode: str
) -> None:
    store = Recording()
    first, second = _call(_config(faults, a={"rpm": 1}), store, mode, n=2)
    assert first.route.target == "a"
    assert [(x.target, x.outcome) for x in second.route.attempts] == [
        ("a", "rate_limited"),
        ("b", "ok"),
    ]
    # The refusal came with the hold: the walk skipped a with no operation of its own.
    assert store.ops == ["admit", "budget_commit", "admit", "budget_commit"]
    assert faults.count("a") == 1
    assert store.get("rl:a") is not None  # a full rpm window marks the target, as before
    assert _holds(store) == [0]


def _holds(store: MemoryStore) -> list[int]:
    """Live holds of each budget window the store knows."""
    return [store.budget_usage(k, now=time.time()).holds for k in store._windows]


@pytest.mark.parametrize("mode", MODES)
def test_a_limit_refused_at_admission_on_the_last_target_gives_up_and_releases_the_hold(
    faults: FaultServer, mode: str
) -> None:
    store = Recording()
    cfg = _config(faults, a={"rpm": 1})
    cfg["routes"]["r"]["candidates"] = ["a"]
    first, second = _call(cfg, store, mode, n=2)
    assert first.route.target == "a"
    assert isinstance(second, ProviderError) and second.code == "rate_limited"
    assert store.ops[-2:] == ["admit", "budget_release"]
    assert faults.count("a") == 1
    assert _holds(store) == [0]


# -- tpm of a try that ends without an answer ------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tpm_config(faults: FaultServer, budget: bool) -> dict[str, Any]:
    cfg = _config(faults, a={"tpm": 1000})
    if not budget:
        del cfg["rules"]
    return cfg


def _used(store: MemoryStore, key: str) -> float:
    """Units counted in window ``key`` (every call of a test falls in one minute)."""
    lim = store._limits.get(key)
    return 0.0 if lim is None else lim.used


def _estimate(cfg: dict[str, Any]) -> tuple[int, int]:
    """(input estimate, input + output cap) of the test's call."""
    with Router(cfg) as r:
        d = r.explain(MESSAGES, model="r", context=TENANT, max_tokens=100)
    return d.input_tokens, d.input_tokens + 100


@pytest.mark.parametrize("budget", [False, True], ids=["no-budget", "budget"])
@pytest.mark.parametrize(
    ("fault", "kept"),
    [("refused", "nothing"), ("500", "input"), ("timeout", "all")],
)
def test_a_failed_try_keeps_only_what_it_used_of_its_tpm_estimate(
    faults: FaultServer, budget: bool, fault: str, kept: str
) -> None:
    cfg = _tpm_config(faults, budget)
    if fault == "refused":
        cfg["providers"]["a"]["base_url"] = f"http://127.0.0.1:{_closed_port()}/v1"
    elif fault == "500":
        faults.script("a", Fault.http(500))
    else:
        faults.script("a", Fault.hang(2))
    store = MemoryStore()
    with Router(cfg, store=store) as r:
        reply = r.chat(MESSAGES, model="r", context=TENANT, max_tokens=100)
    assert [x.target for x in reply.route.attempts] == ["a", "b"]  # type: ignore[union-attr]
    est, whole = _estimate(cfg)
    want = {"nothing": 0, "input": est, "all": whole}[kept]
    assert _used(store, "model:a:tpm") == want


def test_a_call_that_fails_keeps_its_rules_tpm_at_its_input(faults: FaultServer) -> None:
    cfg = _config(faults, a={"tpm": 1000})
    cfg["routes"]["r"]["candidates"] = ["a"]
    cfg["rules"].append({"name": "fair", "limit": {"tpm": 1000, "key": "tenant"}})
    faults.script("a", Fault.http(500))
    store = MemoryStore()
    with Router(cfg, store=store) as r, pytest.raises(ProviderError):
        r.chat(MESSAGES, model="r", context=TENANT, max_tokens=100)
    est, _ = _estimate(cfg)
    assert _used(store, "model:a:tpm") == est
    assert _used(store, "rule:fair:tenant=acme:tpm") == est


def test_a_call_that_never_reached_a_provider_gives_its_rules_tpm_back(
    faults: FaultServer,
) -> None:
    cfg = _config(faults, a={"tpm": 1000})
    cfg["routes"]["r"]["candidates"] = ["a"]
    cfg["rules"].append({"name": "fair", "limit": {"tpm": 1000, "rpm": 5, "key": "tenant"}})
    cfg["providers"]["a"]["base_url"] = f"http://127.0.0.1:{_closed_port()}/v1"
    store = MemoryStore()
    with Router(cfg, store=store) as r, pytest.raises(ProviderError):
        r.chat(MESSAGES, model="r", context=TENANT, max_tokens=100)
    assert _used(store, "model:a:tpm") == 0
    assert _used(store, "rule:fair:tenant=acme:tpm") == 0
    # Requests are counted as tries, sent or not: only tokens are corrected.
    assert _used(store, "rule:fair:tenant=acme:rpm") == 1


def test_a_shadow_copy_takes_its_targets_limits_with_its_hold(faults: FaultServer) -> None:
    store = Recording()
    cfg = _config(faults, a={"rpm": 5}, b={"rpm": 5, "max_in_flight": 1})
    cfg["routes"]["r"] = {"candidates": ["a"], "shadow": {"model": "b", "sample_pct": 100}}
    r = Router(cfg, store=store)
    assert r.chat(MESSAGES, model="r", context=TENANT).route.target == "a"  # type: ignore[union-attr]
    r.close()  # waits for the copy
    assert faults.count("b") == 1
    # The call's admission and the copy's: each one operation, no separate acquire.
    assert store.ops.count("admit") == 2
    assert "limit_acquire" not in store.ops and "budget_reserve" not in store.ops
    assert not _fits(store, [_rpm("b")]) and _fits(store, [_slot("b")])
