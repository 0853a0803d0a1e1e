"""The memory store's running held total and earliest expiry match a full recount."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.state import BudgetCharge, MemoryStore

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "commit", "release", "wait"]),
        st.integers(min_value=0, max_value=5),  # which reservation
        st.floats(min_value=0.0, max_value=3.0),  # amount, or seconds to wait
        st.floats(min_value=0.5, max_value=20.0),  # hold_s
    ),
    max_size=60,
)


@given(ops=_OPS)
def test_held_total_matches_a_recount(ops: list[tuple[str, int, float, float]]) -> None:
    store = MemoryStore()
    now = 1000.0
    charge = BudgetCharge("w", 1e9, 1e12)
    live: dict[str, tuple[float, float]] = {}  # the model: reservation → (amount, expiry)
    spent = 0.0
    for op, i, x, hold_s in ops:
        rid = f"r{i}"
        live = {k: v for k, v in live.items() if v[1] > now}
        if op == "reserve":
            assert store.budget_reserve(rid, [charge], x, now=now, hold_s=hold_s).ok
            live[rid] = (x, now + hold_s)
        elif op == "commit":
            (found,) = store.budget_commit(rid, ["w"], x, now=now)
            assert found == (rid in live)
            live.pop(rid, None)
            spent += x
        elif op == "release":
            store.budget_release(rid, ["w"])
            live.pop(rid, None)
        else:
            now += x
        live = {k: v for k, v in live.items() if v[1] > now}
        u = store.budget_usage("w", now=now)
        assert u.holds == len(live)
        assert u.held_usd == pytest.approx(sum(a for a, _ in live.values()), abs=1e-9)
        assert u.spent_usd == pytest.approx(spent, abs=1e-9)
