"""The memory store forgets limits with nothing left to count, so it stays bounded."""

from __future__ import annotations

from router.state.base import LimitCharge
from router.state.memory import PRUNE_EVERY, MemoryStore

NOW = 1_800_000_000.0


def test_idle_limits_are_pruned_as_new_keys_arrive() -> None:
    store = MemoryStore()
    sizes = []
    # A long-running process meeting ever new tenants: a window and a slot each,
    # 100 a second for seven minutes (unpruned: 80 000 keys).
    for i in range(40_000):
        now = NOW + i * 0.01
        tenant = [LimitCharge(f"t{i}:rpm", 5, 1.0, 60.0), LimitCharge(f"t{i}:inflight", 1)]
        assert store.limit_acquire(f"c{i}", tenant, now=now, hold_s=1).ok
        sizes.append(len(store._limits))
    # What can still count is the last 61 s of windows and 1 s of slots (~6200
    # keys); a prune runs once the acquisitions since the last reach the number
    # of keys, each adding two: never more than three times that, at any time.
    assert max(sizes) <= 3 * 6_200 + 2 * PRUNE_EVERY


def test_pruning_keeps_what_still_counts() -> None:
    store = MemoryStore()
    window, slot = LimitCharge("w", 1, 1.0, 60.0), LimitCharge("s", 1)
    assert store.limit_acquire("keep", [window, slot], now=NOW, hold_s=3600).ok
    for i in range(3 * PRUNE_EVERY):  # enough acquisitions to prune several times
        assert store.limit_acquire(f"x{i}", [LimitCharge(f"k{i}", 1)], now=NOW + 30, hold_s=0)
    assert len(store._limits) < 2 * PRUNE_EVERY  # the expired slots were forgotten
    # The window's request and the live slot were not.
    assert not store.limit_acquire("y", [window], now=NOW + 30, hold_s=1).ok
    assert not store.limit_acquire("y", [slot], now=NOW + 30, hold_s=1).ok
    assert store.limit_acquire("y", [window], now=NOW + 61, hold_s=1).ok


def test_corrections_to_a_forgotten_window_start_it_again() -> None:
    store = MemoryStore()
    tpm = LimitCharge("tpm", 100, 80.0, 60.0)
    assert store.limit_acquire("a", [tpm], now=NOW, hold_s=1).ok
    for i in range(2 * PRUNE_EVERY):  # "tpm" ages out and is pruned meanwhile
        store.limit_acquire(f"x{i}", [LimitCharge(f"k{i}", 1)], now=NOW + 120, hold_s=0)
    assert "tpm" not in store._limits
    # A late correction lands in its own (old) bucket and ages out with it.
    store.limit_release("a", [], [LimitCharge("tpm", 100, 10.0, 60.0)], at=NOW + 119)
    assert not store.limit_acquire(
        "b", [LimitCharge("tpm", 100, 91.0, 60.0)], now=NOW + 120, hold_s=1
    ).ok
    assert store.limit_acquire(
        "b", [LimitCharge("tpm", 100, 90.0, 60.0)], now=NOW + 120, hold_s=1
    ).ok
