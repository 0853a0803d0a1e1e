"""Guard state and statistics on every state backend, shared between two store handles.

The migration code uses only the StateStore primitives; these tests run it
on each backend this build provides (memory always; sqlite and redis when
``open_store`` knows them), with two handles on one store standing for two
processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from router.config.schema import RouteConfig
from router.migration import record_attempts, resume, tripped_arms
from router.migration.compare import count, summarise_store
from router.state import MemoryStore, StateStore, open_store
from router.types import Attempt

T0 = 1_800_000_000.0
ROUTE = RouteConfig(
    split=[{"model": "llama", "weight": 50}, {"model": "gpt", "weight": 50}],  # type: ignore[list-item]
    guard={"model": "llama", "baseline": "gpt", "max_ratio": 2, "min_samples": 20},  # type: ignore[arg-type]
)


def _open(url: str) -> StateStore:
    return open_store(url)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def two_handles(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[StateStore, StateStore]]:
    kind = request.param
    if kind == "memory":
        one = MemoryStore()
        yield one, one
        return
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        a = _open(url)
        b = _open(url)
        yield a, b
        a.close()
        b.close()
        return
    url = str(request.getfixturevalue("redis_url"))
    a = _open(url)
    b = _open(url)
    yield a, b
    a.close()
    b.close()


def test_a_trip_in_one_process_is_seen_and_resumed_from_another(
    two_handles: tuple[StateStore, StateStore],
) -> None:
    a, b = two_handles
    for i in range(60):
        # Both "processes" serve traffic; both count into the same window.
        store = a if i % 2 else b
        record_attempts(store, "support", ROUTE, [Attempt(target="gpt", outcome="ok")], T0)
        record_attempts(
            store,
            "support",
            ROUTE,
            [Attempt(target="llama", outcome="error" if i % 2 else "ok")],
            T0,
        )
    assert "llama" in tripped_arms(a, "support", ROUTE)
    assert tripped_arms(b, "support", ROUTE) == tripped_arms(a, "support", ROUTE)
    assert resume(b, "support", "llama") is True
    assert tripped_arms(a, "support", ROUTE) == {}


def test_shadow_aggregates_add_up_across_processes(
    two_handles: tuple[StateStore, StateStore],
) -> None:
    a, b = two_handles
    for _ in range(3):
        count(a, "support", "llama", "dropped")
        count(b, "support", "llama", "dropped")
    assert summarise_store(a, "support", "llama")["dropped"] == 6
