"""One behaviour suite for every state store: memory, sqlite and redis, sync and async.

Each case is written once, as a coroutine, against :class:`Drive`: ``await
s.get("k")`` awaits an async store's coroutine, or calls a sync store's
method directly. ``s.gather(n, case)`` runs ``n`` copies of a case at once:
as ``n`` tasks on the loop for an async store, on 16 threads for a sync one.

Key/value TTLs use each backend's own clock (Redis: the server's), so those
cases wait for real expiry with short TTLs and generous sleeps. Budget
operations take ``now`` from the caller and are fully deterministic.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from router.errors import ConfigError
from router.state import BudgetCharge, BudgetUsage, MemoryStore, StateStore
from router.state.aio import AsyncMemoryStore, AsyncStateStore, open_async_store
from router.state.aio.sqlite import AsyncSQLiteStore
from router.state.base import EPSILON_USD, LimitCharge
from router.state.sqlite import SQLiteStore

T = TypeVar("T")

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
MANY = 200  # concurrent callers in the contention cases
SYNC_THREADS = 16

BACKENDS = ("memory", "sqlite", "redis")
MODES = ("sync", "async")


def _kind(backend: str, mode: str) -> Any:
    marks = [pytest.mark.redis] if backend == "redis" else []
    return pytest.param((backend, mode), id=f"{backend}-{mode}", marks=marks)


ALL_KINDS = [_kind(b, m) for b in BACKENDS for m in MODES]
ASYNC_KINDS = [_kind(b, "async") for b in BACKENDS]


def charge(key: str, limit: float, expires_at: float = NOW + 3600) -> BudgetCharge:
    return BudgetCharge(key, limit, expires_at)


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (a sync-mode case)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("a sync-mode case awaited something that suspends")


class Drive:
    """A sync or async store, driven by the same ``await s.op(...)`` code."""

    def __init__(self, store: StateStore | AsyncStateStore, backend: str, url: str) -> None:
        self.store = store
        self.backend = backend
        self.url = url  # what opens another handle on the same data
        self.is_async = isinstance(store, AsyncStateStore)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if self.is_async:
            return getattr(self.store, "aclose" if name == "close" else name)  # type: ignore[no-any-return]
        op = getattr(self.store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return op(*args, **kwargs)

        return call

    async def gather(self, n: int, case: Callable[[int], Awaitable[T]]) -> list[T]:
        """Run ``case(0) … case(n - 1)`` concurrently; their results in order."""
        if self.is_async:
            return list(await asyncio.gather(*(case(i) for i in range(n))))

        def one(i: int) -> T:
            return run_inline(case(i))  # type: ignore[arg-type]

        with ThreadPoolExecutor(SYNC_THREADS) as pool:
            return list(pool.map(one, range(n)))


Opener = Callable[..., Drive]


@pytest.fixture(params=ALL_KINDS)
def kind(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def make(
    kind: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Opener]:
    """Opens stores of this test's kind (or ``mode=``) over one set of data; closes them after."""
    backend, default_mode = kind
    opened: list[Drive] = []
    shared_memory = MemoryStore()
    if backend == "redis":
        base = str(request.getfixturevalue("redis_url"))
    elif backend == "sqlite":
        base = f"sqlite://{tmp_path / 'state.db'}"
    else:
        base = "memory"

    def opener(mode: str | None = None, query: str = "", **kwargs: Any) -> Drive:
        mode = mode or default_mode
        url = base + query
        store: StateStore | AsyncStateStore
        if backend == "memory":
            store = shared_memory if mode == "sync" else AsyncMemoryStore(shared_memory)
        elif backend == "sqlite":
            path = tmp_path / "state.db"
            store = SQLiteStore(path) if mode == "sync" else AsyncSQLiteStore(path)
        else:
            from router.state.aio.redis import AsyncRedisStore
            from router.state.redis import RedisStore

            store = RedisStore(url) if mode == "sync" else AsyncRedisStore(url, **kwargs)
        d = Drive(store, backend, url)
        opened.append(d)
        return d

    yield opener
    for d in opened:
        await d.close()


@pytest.fixture
async def s(make: Opener) -> Drive:
    """An empty store of this test's kind."""
    return make()


# -- key/value ------------------------------------------------------------------


async def test_get_set_delete(s: Drive) -> None:
    assert await s.get("a") is None
    await s.set("a", "1")
    assert await s.get("a") == "1"
    await s.set("a", "two")
    assert await s.get("a") == "two"
    await s.delete("a")
    assert await s.get("a") is None
    await s.delete("never-there")  # no error
    await s.set("unicode", "ünï ✓")
    assert await s.get("unicode") == "ünï ✓"


async def test_get_many_reads_each_key_in_order(s: Drive) -> None:
    assert await s.get_many([]) == []
    await s.set("a", "1")
    await s.set("c", "3", ttl_s=60)
    await s.set("gone", "x", ttl_s=0.05)
    await s.incr("n", 2)
    await asyncio.sleep(0.2)
    got = await s.get_many(["c", "missing", "a", "gone", "n", "a"])
    assert got[:4] == ["3", None, "1", None] and got[5] == "1"
    assert got[4] is not None and float(got[4]) == 2.0  # each backend spells numbers its way
    assert got == [await s.get(k) for k in ["c", "missing", "a", "gone", "n", "a"]]


async def test_ttl_expires_and_set_replaces_ttl(s: Drive) -> None:
    await s.set("short", "x", ttl_s=0.05)
    await s.set("long", "y", ttl_s=60)
    await s.set("forever", "z")
    await s.set("renewed", "1", ttl_s=0.05)
    await s.set("renewed", "2")  # no ttl: lives on
    assert await s.get("short") == "x"
    await asyncio.sleep(0.3)
    assert await s.get("short") is None
    assert await s.get("long") == "y"
    assert await s.get("forever") == "z"
    assert await s.get("renewed") == "2"


async def test_nonpositive_ttl_is_already_expired(s: Drive) -> None:
    await s.set("k", "v", ttl_s=0)
    assert await s.get("k") is None
    assert await s.set_if_absent("k", "v", ttl_s=-1) is True
    assert await s.get("k") is None
    assert await s.incr("n", 5, ttl_s=0) == 5
    assert await s.get("n") is None


async def test_set_if_absent(s: Drive) -> None:
    assert await s.set_if_absent("lock", "me", ttl_s=0.05) is True
    assert await s.set_if_absent("lock", "you") is False
    assert await s.get("lock") == "me"
    await asyncio.sleep(0.3)
    assert await s.set_if_absent("lock", "you") is True
    assert await s.get("lock") == "you"


async def test_incr(s: Drive) -> None:
    assert await s.incr("n") == 1
    assert await s.incr("n", 2.5) == 3.5
    assert await s.incr("n", -1) == 2.5
    assert float(await s.get("n") or "nan") == 2.5
    assert await s.incr("f", 0.1) == 0.1
    assert await s.incr("f", 0.2) == pytest.approx(0.3)


async def test_incr_ttl_only_on_create(s: Drive) -> None:
    await s.incr("w", 1, ttl_s=0.1)
    await s.incr("w", 1, ttl_s=60)  # does not extend the window
    await asyncio.sleep(0.4)
    assert await s.get("w") is None
    assert await s.incr("w", 1, ttl_s=60) == 1


async def test_incr_not_a_number(s: Drive) -> None:
    await s.set("s", "hello")
    with pytest.raises(ValueError):
        await s.incr("s")
    assert await s.get("s") == "hello"


async def test_incr_is_atomic_under_concurrency(s: Drive) -> None:
    totals = await s.gather(MANY, lambda _: s.incr("count"))
    assert float(await s.get("count") or 0) == MANY
    assert sorted(totals) == [float(i) for i in range(1, MANY + 1)]  # each sum seen once


async def test_set_if_absent_has_one_winner(s: Drive) -> None:
    wins = await s.gather(MANY, lambda i: s.set_if_absent("leader", str(i), ttl_s=30))
    assert sum(wins) == 1
    assert await s.get("leader") == str(wins.index(True))


# -- budgets ----------------------------------------------------------------------


async def test_reserve_within_and_beyond_limit(s: Drive) -> None:
    r1 = await s.budget_reserve("r1", [charge("w", 1.0)], 0.6, now=NOW, hold_s=60)
    assert r1.ok and r1.refused == ()
    assert r1.usage["w"] == BudgetUsage(0.0, 0.0, 0)
    r2 = await s.budget_reserve("r2", [charge("w", 1.0)], 0.6, now=NOW, hold_s=60)
    assert not r2.ok and r2.refused == ("w",)
    assert r2.usage["w"].held_usd == pytest.approx(0.6) and r2.usage["w"].holds == 1
    # An exact fit is admitted.
    assert (await s.budget_reserve("r3", [charge("w", 1.0)], 0.4, now=NOW, hold_s=60)).ok
    u = await s.budget_usage("w", now=NOW)
    assert (u.spent_usd, u.held_usd, u.holds) == (0.0, pytest.approx(1.0), 2)


async def test_reserve_is_all_or_nothing_across_windows(s: Drive) -> None:
    assert (await s.budget_reserve("fill-b", [charge("b", 0.5)], 0.5, now=NOW, hold_s=60)).ok
    assert (await s.budget_reserve("fill-d", [charge("d", 0.3)], 0.25, now=NOW, hold_s=60)).ok
    windows = [charge("a", 10), charge("b", 0.5), charge("c", 10), charge("d", 0.3)]
    res = await s.budget_reserve("x", windows, 0.1, now=NOW, hold_s=60)
    assert not res.ok and res.refused == ("b", "d")  # every window without room, in order
    assert set(res.usage) == {"a", "b", "c", "d"}
    assert res.usage["b"].held_usd == pytest.approx(0.5)
    assert res.usage["d"].held_usd == pytest.approx(0.25)
    for key in "ac":  # nothing held where there was room
        assert await s.budget_usage(key, now=NOW) == BudgetUsage()
    assert (await s.budget_usage("b", now=NOW)).holds == 1
    # With room everywhere, every window gets the hold.
    res = await s.budget_reserve("y", [charge("a", 10), charge("c", 10)], 0.1, now=NOW, hold_s=60)
    assert res.ok
    for key in "ac":
        assert (await s.budget_usage(key, now=NOW)).holds == 1


async def test_reserving_again_replaces_the_hold(s: Drive) -> None:
    await s.budget_reserve("r", [charge("w", 1.0)], 0.4, now=NOW, hold_s=60)
    assert (await s.budget_reserve("r", [charge("w", 1.0)], 0.5, now=NOW, hold_s=60)).ok
    u = await s.budget_usage("w", now=NOW)
    assert (u.held_usd, u.holds) == (pytest.approx(0.5), 1)


async def test_zero_amount_always_fits(s: Drive) -> None:
    await s.budget_reserve("r", [charge("w", 1.0)], 1.0, now=NOW, hold_s=60)
    await s.budget_commit("r", ["w"], 1.5, now=NOW)  # overspent
    assert (await s.budget_reserve("free", [charge("w", 1.0)], 0.0, now=NOW, hold_s=60)).ok
    assert not (await s.budget_reserve("paid", [charge("w", 1.0)], 0.01, now=NOW, hold_s=60)).ok


async def test_commit_replaces_hold_with_spend_and_writes_ledger(s: Drive) -> None:
    await s.budget_reserve("r", [charge("a", 1.0), charge("b", 2.0)], 0.5, now=NOW, hold_s=60)
    found = await s.budget_commit("r", ["a", "b"], 0.2, now=NOW + 1, record='{"n":1}')
    assert found == (True, True)
    for key in "ab":
        u = await s.budget_usage(key, now=NOW + 1)
        assert (u.spent_usd, u.held_usd, u.holds) == (pytest.approx(0.2), 0.0, 0)
    assert await s.ledger_read() == ['{"n":1}']
    # The freed room is usable again; a commit without a record writes none.
    assert (await s.budget_reserve("r2", [charge("a", 1.0)], 0.8, now=NOW + 1, hold_s=60)).ok
    assert await s.budget_commit("r2", ["a"], 0.1, now=NOW + 2) == (True,)
    assert await s.ledger_read() == ['{"n":1}']


async def test_release_frees_the_hold(s: Drive) -> None:
    await s.budget_reserve("r", [charge("w", 1.0), charge("v", 1.0)], 0.9, now=NOW, hold_s=60)
    await s.budget_release("r", ["w", "v"])
    assert await s.budget_usage("w", now=NOW) == BudgetUsage()
    assert await s.budget_usage("v", now=NOW) == BudgetUsage()
    await s.budget_release("r", ["w"])  # twice: no error
    await s.budget_release("r", [])  # no windows: no error
    assert (await s.budget_reserve("r2", [charge("w", 1.0)], 0.9, now=NOW, hold_s=60)).ok


async def test_holds_expire(s: Drive) -> None:
    """A crashed process's hold stops counting once it expires."""
    await s.budget_reserve("crashed", [charge("w", 1.0)], 0.9, now=NOW, hold_s=30)
    assert not (await s.budget_reserve("b", [charge("w", 1.0)], 0.5, now=NOW + 29, hold_s=30)).ok
    assert await s.budget_usage("w", now=NOW + 30) == BudgetUsage()
    assert (await s.budget_reserve("b", [charge("w", 1.0)], 0.5, now=NOW + 30, hold_s=30)).ok
    # A late commit of the expired hold still records the spend, reported as not found.
    assert await s.budget_commit("crashed", ["w"], 0.3, now=NOW + 31) == (False,)
    assert (await s.budget_usage("w", now=NOW + 31)).spent_usd == pytest.approx(0.3)


async def test_windows_are_forgotten_after_they_expire(s: Drive) -> None:
    c = charge("w", 1.0, expires_at=NOW + 100)
    await s.budget_reserve("r", [c], 0.5, now=NOW, hold_s=10)
    await s.budget_commit("r", ["w"], 0.5, now=NOW + 1)
    assert (await s.budget_usage("w", now=NOW + 99)).spent_usd == pytest.approx(0.5)
    assert await s.budget_usage("w", now=NOW + 100) == BudgetUsage()
    assert (await s.budget_reserve("r2", [c], 1.0, now=NOW + 100, hold_s=10)).ok


async def test_unknown_window_is_empty(s: Drive) -> None:
    assert await s.budget_usage("nothing", now=NOW) == BudgetUsage()


async def test_concurrent_reservations_admit_exactly_what_fits(s: Drive) -> None:
    windows = [charge("w", 1.0), charge("v", 5.0)]
    results = await s.gather(
        MANY, lambda i: s.budget_reserve(f"r{i}", windows, 0.05, now=NOW, hold_s=60)
    )
    admitted = sum(r.ok for r in results)
    assert admitted == 20  # 20 x 0.05 fills "w" exactly
    assert all(r.refused == ("w",) for r in results if not r.ok)
    for key in "wv":
        u = await s.budget_usage(key, now=NOW)
        assert u.holds == admitted
        assert u.held_usd == pytest.approx(admitted * 0.05)


async def test_concurrent_multi_window_reservations_never_over_admit(s: Drive) -> None:
    """Overlapping windows, mixed amounts: each window's holds add up, within its limit."""
    limits = {"A": 1.0, "B": 1.5, "C": 0.8}
    groups = [("A", "B"), ("B", "C"), ("A", "C")]

    def amount(i: int) -> float:
        return 0.05 + (i % 4) * 0.01

    async def one(i: int) -> bool:
        windows = [charge(k, limits[k]) for k in groups[i % 3]]
        res = await s.budget_reserve(f"r{i}", windows, amount(i), now=NOW, hold_s=60)
        assert res.ok or res.refused
        return bool(res.ok)

    ok = await s.gather(MANY, one)
    assert 0 < sum(ok) < MANY
    for key, limit in limits.items():
        mine = [i for i in range(MANY) if ok[i] and key in groups[i % 3]]
        held = sum(amount(i) for i in mine)
        assert held <= limit + EPSILON_USD  # the sum never exceeds the limit
        u = await s.budget_usage(key, now=NOW)
        assert u.holds == len(mine)  # no partial reservations
        assert u.held_usd == pytest.approx(held)


async def test_concurrent_reserve_and_commit_keep_spend_within_the_limit(s: Drive) -> None:
    async def one(i: int) -> bool:
        res = await s.budget_reserve(f"r{i}", [charge("w", 1.0)], 0.05, now=NOW, hold_s=60)
        if res.ok:
            record = json.dumps({"i": i})
            assert await s.budget_commit(f"r{i}", ["w"], 0.04, now=NOW, record=record) == (True,)
        return bool(res.ok)

    ok = await s.gather(MANY, one)
    admitted = sum(ok)
    u = await s.budget_usage("w", now=NOW)
    assert (u.held_usd, u.holds) == (0.0, 0)
    assert u.spent_usd == pytest.approx(admitted * 0.04)
    assert u.spent_usd <= 1.0 + EPSILON_USD
    assert admitted >= 20
    records = [json.loads(r)["i"] for r in await s.ledger_read(NOW, NOW + 1)]
    assert sorted(records) == [i for i in range(MANY) if ok[i]]


# -- rate and concurrency limits ----------------------------------------------------


def rate(key: str, limit: float, amount: float = 1.0, window_s: float = 60.0) -> LimitCharge:
    return LimitCharge(key, limit, amount, window_s)


def inflight(key: str, limit: int) -> LimitCharge:
    return LimitCharge(key, limit)


async def test_window_admits_up_to_its_limit_then_says_when(s: Drive) -> None:
    for i in range(3):
        assert (await s.limit_acquire(f"t{i}", [rate("rpm", 3)], now=NOW + i, hold_s=5)).ok
    res = await s.limit_acquire("t3", [rate("rpm", 3)], now=NOW + 3, hold_s=5)
    assert (res.ok, res.refused) == (False, ("rpm",))
    # The first unit (taken at NOW, bucket of 1 s) leaves the window after its
    # bucket's end plus the window: 61 s after NOW, 58 s after the refusal.
    assert res.retry_after_s == pytest.approx(58.0)
    assert not (await s.limit_acquire("t4", [rate("rpm", 3)], now=NOW + 60.9, hold_s=5)).ok
    assert (await s.limit_acquire("t5", [rate("rpm", 3)], now=NOW + 61, hold_s=5)).ok


async def test_window_counts_amounts_and_never_fits_an_oversized_one(s: Drive) -> None:
    assert (await s.limit_acquire("a", [rate("tpm", 1000, 600)], now=NOW, hold_s=5)).ok
    res = await s.limit_acquire("b", [rate("tpm", 1000, 500)], now=NOW + 1, hold_s=5)
    assert not res.ok and res.retry_after_s == pytest.approx(60.0)
    assert (await s.limit_acquire("c", [rate("tpm", 1000, 400)], now=NOW + 1, hold_s=5)).ok
    huge = await s.limit_acquire("d", [rate("tpm", 1000, 1001)], now=NOW + 500, hold_s=5)
    assert not huge.ok and huge.retry_after_s == float("inf")


async def test_acquire_is_all_or_nothing(s: Drive) -> None:
    assert (await s.limit_acquire("a", [rate("full", 1)], now=NOW, hold_s=5)).ok
    res = await s.limit_acquire(
        "b", [rate("free", 5), inflight("slots", 5), rate("full", 1)], now=NOW, hold_s=5
    )
    assert res.refused == ("full",)
    # Nothing of the refused acquisition was taken: "free" still has 5, "slots" 5.
    many = [rate("free", 5, 5), inflight("slots", 1)]
    assert (await s.limit_acquire("c", many, now=NOW, hold_s=5)).ok


async def test_inflight_holds_release_and_expire(s: Drive) -> None:
    c = [inflight("slots", 2)]
    assert (await s.limit_acquire("a", c, now=NOW, hold_s=10)).ok
    assert (await s.limit_acquire("b", c, now=NOW, hold_s=100)).ok
    res = await s.limit_acquire("c", c, now=NOW, hold_s=10)
    assert (res.ok, res.refused, res.retry_after_s) == (False, ("slots",), None)
    assert (await s.limit_acquire("a", c, now=NOW, hold_s=10)).ok  # its own hold: again
    await s.limit_release("a", ["slots"])
    await s.limit_release("a", ["slots"])  # twice is harmless
    assert (await s.limit_acquire("c", c, now=NOW + 1, hold_s=10)).ok
    assert not (await s.limit_acquire("d", c, now=NOW + 1, hold_s=10)).ok
    # "c" expires at NOW + 11: a crashed caller's slot comes back on its own.
    assert (await s.limit_acquire("d", c, now=NOW + 11, hold_s=10)).ok


async def test_release_corrects_a_window_estimate_where_it_was_taken(s: Drive) -> None:
    assert (await s.limit_acquire("a", [rate("tpm", 1000, 900)], now=NOW, hold_s=5)).ok
    assert not (await s.limit_acquire("b", [rate("tpm", 1000, 200)], now=NOW + 5, hold_s=5)).ok
    # The call used 300 tokens, not 900: 600 given back in NOW's bucket.
    await s.limit_release("a", [], [rate("tpm", 1000, -600)], at=NOW)
    assert (await s.limit_acquire("b", [rate("tpm", 1000, 200)], now=NOW + 5, hold_s=5)).ok
    # An underestimate is charged too, and ages out with the original units.
    await s.limit_release("b", [], [rate("tpm", 1000, 500)], at=NOW + 5)
    assert not (await s.limit_acquire("c", [rate("tpm", 1000, 1)], now=NOW + 6, hold_s=5)).ok
    # At NOW + 61 the 300 taken at NOW have aged out; the 700 of NOW + 5 remain.
    assert not (await s.limit_acquire("c", [rate("tpm", 1000, 301)], now=NOW + 61, hold_s=5)).ok
    assert (await s.limit_acquire("c", [rate("tpm", 1000, 300)], now=NOW + 61, hold_s=5)).ok


async def test_concurrent_acquisitions_never_exceed_a_limit(s: Drive) -> None:
    charges = [rate("rpm", 37), rate("tpm", 1000, 20), inflight("slots", 45)]

    async def one(i: int) -> bool:
        res = await s.limit_acquire(f"t{i}", charges, now=NOW + (i % 7) * 0.01, hold_s=60)
        return bool(res.ok)

    ok = await s.gather(MANY, one)
    assert sum(ok) == 37  # rpm is the tightest: exactly what fits, never more


async def test_concurrent_inflight_with_releases_never_exceeds(s: Drive) -> None:
    lock = threading.Lock()
    live, peak = 0, 0

    async def one(i: int) -> int:
        nonlocal live, peak
        taken = 0
        for _ in range(5):
            if (await s.limit_acquire(f"t{i}", [inflight("slots", 3)], now=NOW, hold_s=60)).ok:
                taken += 1
                with lock:
                    live += 1
                    peak = max(peak, live)
                if s.is_async:
                    await asyncio.sleep(0)  # let other tasks try while the slot is held
                else:
                    time.sleep(0.0005)  # let other threads try
                with lock:
                    live -= 1
                await s.limit_release(f"t{i}", ["slots"])
        return taken

    taken = await s.gather(40, one)
    assert sum(taken) > 0
    assert peak <= 3


# -- admission: the budget hold and the first try's limits in one operation ------------


async def test_admit_places_the_hold_and_takes_the_limits(s: Drive) -> None:
    limits = [rate("rpm", 2), rate("tpm", 100, 60), inflight("slots", 1)]
    res = await s.admit(
        "h1", [charge("w", 1.0)], 0.4, "t1", limits, now=NOW, hold_s=60, limit_hold_s=30
    )
    assert res.reserved.ok and res.acquired is not None and res.acquired.ok
    assert res.reserved.usage["w"] == BudgetUsage()  # as seen before the new hold
    assert await s.budget_usage("w", now=NOW) == BudgetUsage(0.0, 0.4, 1)
    # The limits were counted: the slot is taken, 60 of the 100 tokens are.
    assert not (await s.limit_acquire("x", [inflight("slots", 1)], now=NOW, hold_s=5)).ok
    assert not (await s.limit_acquire("x", [rate("tpm", 100, 41)], now=NOW, hold_s=5)).ok
    assert (await s.limit_acquire("x", [rate("tpm", 100, 40)], now=NOW, hold_s=5)).ok
    # The limit hold lives limit_hold_s, not hold_s.
    assert (await s.limit_acquire("y", [inflight("slots", 1)], now=NOW + 31, hold_s=5)).ok
    assert (await s.budget_usage("w", now=NOW + 31)).holds == 1


async def test_admit_refused_by_the_budget_takes_no_limit(s: Drive) -> None:
    assert (await s.budget_reserve("h0", [charge("w", 1.0)], 0.8, now=NOW, hold_s=60)).ok
    res = await s.admit(
        "h1",
        [charge("v", 1.0), charge("w", 1.0)],
        0.4,
        "t1",
        [rate("rpm", 1), inflight("slots", 1)],
        now=NOW,
        hold_s=60,
        limit_hold_s=60,
    )
    assert not res.reserved.ok and res.reserved.refused == ("w",) and res.acquired is None
    assert res.reserved.usage["w"] == BudgetUsage(0.0, 0.8, 1)
    # Nothing changed: no hold on either window, the rpm and the slot untouched.
    assert (await s.budget_usage("v", now=NOW)).holds == 0
    assert (await s.budget_usage("w", now=NOW)).holds == 1
    both = [rate("rpm", 1), inflight("slots", 1)]
    assert (await s.limit_acquire("t2", both, now=NOW, hold_s=5)).ok


async def test_admit_refused_by_a_limit_keeps_the_hold_and_takes_no_limit(s: Drive) -> None:
    assert (await s.limit_acquire("t0", [rate("rpm", 1)], now=NOW, hold_s=5)).ok
    res = await s.admit(
        "h1",
        [charge("w", 1.0)],
        0.4,
        "t1",
        [rate("free", 5), inflight("slots", 1), rate("rpm", 1)],
        now=NOW + 3,
        hold_s=60,
        limit_hold_s=60,
    )
    assert res.reserved.ok and res.acquired is not None
    assert (res.acquired.ok, res.acquired.refused) == (False, ("rpm",))
    assert res.acquired.retry_after_s == pytest.approx(58.0)  # as limit_acquire says it
    # The hold stays (the caller releases it, or the walk tries another target)...
    assert await s.budget_usage("w", now=NOW + 3) == BudgetUsage(0.0, 0.4, 1)
    # ...and no limit was taken: "free" still admits 5, "slots" its one.
    many = [rate("free", 5, 5), inflight("slots", 1)]
    assert (await s.limit_acquire("t2", many, now=NOW + 3, hold_s=5)).ok


async def test_concurrent_admissions_honour_the_budget_and_the_limit(s: Drive) -> None:
    # The budget admits 50 holds, the rpm 37 of them: exactly those, never more,
    # and a call refused by the budget never spends a request of the window.
    window = [charge("w", 5.0)]

    async def one(i: int) -> tuple[bool, bool]:
        res = await s.admit(
            f"h{i}", window, 0.1, f"t{i}", [rate("rpm", 37)], now=NOW, hold_s=60, limit_hold_s=60
        )
        return res.reserved.ok, bool(res.acquired is not None and res.acquired.ok)

    out = await s.gather(MANY, one)
    assert sum(held for held, _ in out) == 50
    assert sum(took for _, took in out) == 37
    assert all(held for held, took in out if took)
    assert (await s.budget_usage("w", now=NOW)).holds == 50


# -- ledger --------------------------------------------------------------------------


async def test_ledger_order_and_ranges(s: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    # Redis reads the ledger in batches: make them tiny so ranges span several.
    monkeypatch.setattr("router.state.redis._LEDGER_BATCH", 2)
    assert await s.ledger_read() == []
    await s.ledger_append("a", ts=NOW)
    await s.ledger_append("b", ts=NOW + 10)
    await s.ledger_append("b2", ts=NOW + 10)  # same stamp: kept in append order
    await s.budget_commit("r", [], 0.0, now=NOW + 20, record="c")
    await s.ledger_append("early", ts=NOW - 5)  # appended last, stamped first
    assert await s.ledger_read() == ["a", "b", "b2", "c", "early"]  # append order
    assert await s.ledger_read(since=NOW + 10) == ["b", "b2", "c"]  # since is inclusive
    assert await s.ledger_read(until=NOW + 10) == ["a", "early"]  # until is exclusive
    assert await s.ledger_read(NOW + 5, NOW + 15) == ["b", "b2"]
    assert await s.ledger_read(NOW + 10, NOW + 10) == []
    assert await s.ledger_read(since=NOW + 21) == []


async def test_concurrent_ledger_appends_are_all_kept(s: Drive) -> None:
    await s.gather(MANY, lambda i: s.ledger_append(f"r{i}", ts=NOW + i))
    records = await s.ledger_read()
    assert sorted(records) == sorted(f"r{i}" for i in range(MANY))
    # Concurrent appends land in some order; a range selects by stamp all the same.
    assert sorted(await s.ledger_read(NOW + 10, NOW + 13)) == ["r10", "r11", "r12"]


# -- lifetime --------------------------------------------------------------------------


def _redis_clients(s: Drive, name: str) -> int:
    """How many connections the server has that carry ``name``."""
    import redis

    admin = redis.Redis.from_url(s.url.split("?")[0])
    try:
        return sum(1 for c in admin.client_list() if c.get("name") == name)
    finally:
        admin.close()


async def _until(predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_close_is_idempotent_and_leaves_nothing(make: Opener, kind: tuple[str, str]) -> None:
    backend, _ = kind
    name = f"router-test-{uuid.uuid4().hex[:8]}"
    threads = threading.active_count()
    s = make(query=f"&client_name={name}" if backend == "redis" else "")
    await s.set("k", "v")
    await s.gather(
        MANY, lambda i: s.budget_reserve(f"r{i}", [charge("w", 1)], 0.01, now=NOW, hold_s=9)
    )
    await s.ledger_append("x", ts=NOW)
    if s.is_async and backend == "sqlite":
        assert threading.active_count() == threads + 1  # its one worker
    if backend == "redis":
        assert _redis_clients(s, name) >= 1
    await s.close()
    await s.close()
    if s.is_async:
        await asyncio.gather(s.close(), s.close())  # concurrent closers both return
    assert threading.active_count() == threads
    assert not [t for t in threading.enumerate() if t.name.startswith("router-state")]
    if backend == "redis":
        assert await _until(lambda: _redis_clients(s, name) == 0)


# -- sync and async share one layout ------------------------------------------------


@pytest.mark.parametrize("kind", ASYNC_KINDS, indirect=True)
async def test_sync_and_async_stores_share_data(make: Opener) -> None:
    a = make()
    s = make(mode="sync")
    assert a.is_async and not s.is_async
    await s.set("k", "from-sync")
    assert await a.get("k") == "from-sync"
    await a.incr("n", 2)
    assert await s.incr("n", 3) == 5
    assert not await a.set_if_absent("k", "x")
    await s.budget_reserve("r", [charge("w", 1.0)], 0.6, now=NOW, hold_s=60)
    assert not (await a.budget_reserve("r2", [charge("w", 1.0)], 0.6, now=NOW, hold_s=60)).ok
    assert await a.budget_commit("r", ["w"], 0.5, now=NOW, record='{"by":"async"}') == (True,)
    assert await s.budget_usage("w", now=NOW) == await a.budget_usage("w", now=NOW)
    await s.ledger_append('{"by":"sync"}', ts=NOW + 1)
    assert await a.ledger_read() == await s.ledger_read() == ['{"by":"async"}', '{"by":"sync"}']


# -- async only ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ASYNC_KINDS, indirect=True)
async def test_async_store_refuses_work_after_aclose(make: Opener) -> None:
    s = make()
    store = s.store
    assert isinstance(store, AsyncStateStore)
    async with store:
        assert not store.closed
        await store.set("k", "v")
    assert store.closed
    for call in (
        lambda: store.get("k"),
        lambda: store.set("k", "v"),
        lambda: store.budget_reserve("r", [charge("w", 1)], 0.1, now=NOW, hold_s=1),
        lambda: store.budget_release("r", ["w"]),
        lambda: store.ledger_read(),
    ):
        with pytest.raises(RuntimeError, match="closed"):
            await call()


@pytest.mark.parametrize(
    "kind", [_kind("memory", "async"), _kind("sqlite", "async")], indirect=True
)
async def test_in_process_async_stores_keep_call_order(s: Drive) -> None:
    """Memory and SQLite run operations in the order they were called (one connection)."""
    totals = await asyncio.gather(*(s.incr("n") for _ in range(100)))
    assert totals == [float(i) for i in range(1, 101)]
    await asyncio.gather(*(s.set("k", str(i)) for i in range(100)))
    assert await s.get("k") == "99"


async def test_async_sqlite_never_blocks_the_loop(tmp_path: Path) -> None:
    seen: list[threading.Thread] = []

    def slow_clock() -> float:  # a slow disk, or another process holding the lock
        seen.append(threading.current_thread())
        time.sleep(0.05)
        return time.time()

    store = AsyncSQLiteStore(tmp_path / "s.db", clock=slow_clock)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    t = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(store.set(f"k{i}", "v") for i in range(6)))  # >= 0.3 s of work
    finally:
        t.cancel()
    await store.aclose()
    assert ticks >= 20  # the loop kept running throughout
    assert len(set(seen)) == 1 and seen[0] is not threading.current_thread()
    assert seen[0].name.startswith("router-state-sqlite") and not seen[0].is_alive()


async def test_async_sqlite_open_error_surfaces_on_every_call(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = AsyncSQLiteStore(blocker / "sub" / "s.db")  # a file where a directory must be
    for _ in range(2):
        with pytest.raises(OSError):
            await store.get("k")
    await store.aclose()


@pytest.mark.redis
async def test_async_redis_multiplexes_every_task_over_one_connection(redis_url: str) -> None:
    from router.state.aio.redis import AsyncRedisStore

    name = f"router-test-{uuid.uuid4().hex[:8]}"
    url = f"{redis_url}&client_name={name}"
    store = AsyncRedisStore(url)
    d = Drive(store, "redis", url)
    results = await d.gather(
        MANY, lambda i: store.budget_reserve(f"r{i}", [charge("w", 1.0)], 0.05, now=NOW, hold_s=9)
    )
    assert sum(r.ok for r in results) == 20  # every caller answered, the limit held
    assert _redis_clients(d, name) == 1  # all of them over one connection
    await store.aclose()
    assert await _until(lambda: _redis_clients(d, name) == 0)


@pytest.mark.redis
async def test_async_redis_command_timeout_drops_the_connection_and_recovers(
    redis_url: str,
) -> None:
    from router.state.aio.redis import AsyncRedisStore
    from router.state.aio.resp_client import RedisTimeoutError

    store = AsyncRedisStore(f"{redis_url}&socket_timeout=0.2")
    assert await store.get("k") is None
    # A command the server holds for a second stalls the one connection:
    # whatever waits behind it fails at the timeout, as a connection error.
    busy = store._redis.execute("BLPOP", store.prefix + "never", 1)
    with pytest.raises(RedisTimeoutError) as caught:
        await store.get("k")
    assert isinstance(caught.value, ConnectionError)  # what the resilient store catches
    with pytest.raises(RedisTimeoutError):
        await busy
    await store.set("k", "v")  # a new connection
    assert await store.get("k") == "v"
    await store.aclose()


@pytest.mark.redis
async def test_async_redis_one_round_trip_per_operation(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from router.state.aio.redis import AsyncRedisStore
    from router.state.aio.resp_client import _Connection

    store = AsyncRedisStore(redis_url)
    windows = [charge("w", 1.0), charge("v", 1.0)]
    limits = [rate("r", 5, 2), rate("tk", 100, 30), inflight("c", 2)]
    ops: dict[str, Callable[[], Awaitable[Any]]] = {
        "get": lambda: store.get("k"),
        "get_many": lambda: store.get_many(["k", "k2", "n"]),
        "set": lambda: store.set("k", "v", ttl_s=60),
        "set_if_absent": lambda: store.set_if_absent("k2", "v", ttl_s=60),
        "incr": lambda: store.incr("n", 1, ttl_s=60),
        "delete": lambda: store.delete("k2"),
        "budget_reserve": lambda: store.budget_reserve("r", windows, 0.1, now=NOW, hold_s=60),
        "budget_usage": lambda: store.budget_usage("w", now=NOW),
        "budget_release": lambda: store.budget_release("r", ["w", "v"]),
        "budget_commit": lambda: store.budget_commit("r", ["w", "v"], 0.1, now=NOW, record="x"),
        "ledger_append": lambda: store.ledger_append("y", ts=NOW),
        "ledger_read": lambda: store.ledger_read(),
        "limit_acquire": lambda: store.limit_acquire("t", limits, now=NOW, hold_s=60),
        "limit_release": lambda: store.limit_release("t", ["c"], limits[:1], at=NOW),
        "admit": lambda: store.admit(
            "a", windows, 0.1, "t", limits, now=NOW, hold_s=60, limit_hold_s=60
        ),
    }
    for op in ops.values():  # connect, and load every script the server lacks
        await op()
    sends = 0
    original = _Connection._flush

    def counting(self: Any) -> None:
        nonlocal sends
        sends += bool(self._out)
        original(self)

    monkeypatch.setattr(_Connection, "_flush", counting)
    for name, op in ops.items():
        sends = 0
        await op()
        assert sends == 1, name
    await store.aclose()


@pytest.mark.redis
async def test_async_redis_reloads_scripts_the_server_lost(redis_url: str) -> None:
    """NOSCRIPT (server restarted or flushed): each caller that meets it sends the text."""
    from router.state.aio.redis import AsyncRedisStore

    store = AsyncRedisStore(redis_url)
    real = store._layout._reserve.sha
    store._layout._reserve.sha = "0" * 40  # a script this server does not know
    results = await asyncio.gather(
        *(
            store.budget_reserve(f"r{i}", [charge("w", 1.0)], 0.1, now=NOW, hold_s=9)
            for i in range(50)
        )
    )
    assert sum(r.ok for r in results) == 10
    assert store._layout._reserve.sha == real
    await store._redis.execute("SCRIPT", "FLUSH")  # as a restarted server: no scripts at all
    results = await asyncio.gather(
        *(
            store.budget_reserve(f"q{i}", [charge("v", 1.0)], 0.25, now=NOW, hold_s=9)
            for i in range(20)
        )
    )
    assert sum(r.ok for r in results) == 4
    assert await store._redis.execute("SCRIPT", "EXISTS", real) == [1]  # cached again
    await store.aclose()


async def test_open_async_store_urls(tmp_path: Path) -> None:
    m = open_async_store("memory")
    assert isinstance(m, AsyncMemoryStore)
    s = open_async_store(f"sqlite://{tmp_path}/sub/state.db")
    assert isinstance(s, AsyncSQLiteStore) and s.path == tmp_path / "sub" / "state.db"
    await s.get("k")  # opened (schema and all) on its worker
    assert (tmp_path / "sub" / "state.db").exists()
    await m.aclose()
    await s.aclose()
    with pytest.raises(ConfigError, match="unsupported state store"):
        open_async_store("postgres://x")
    with pytest.raises(ConfigError, match="names no file"):
        open_async_store("sqlite://")


@pytest.mark.redis
async def test_open_async_store_redis(redis_url: str) -> None:
    from router.state.aio.redis import AsyncRedisStore
    from router.state.aio.resilient import AsyncResilientStore

    wrapped = open_async_store(redis_url)  # degrades rather than fails, as the sync one
    assert isinstance(wrapped, AsyncResilientStore) and isinstance(wrapped.inner, AsyncRedisStore)
    await wrapped.aclose()
    r = open_async_store(redis_url, resilient=False)
    assert isinstance(r, AsyncRedisStore) and r.prefix.startswith("llm-router-test-")
    # The pool's sizes of old are accepted and mean nothing to one connection.
    r8 = open_async_store(redis_url, max_connections=8, resilient=False)
    r5 = open_async_store(f"{redis_url}&max_connections=5", resilient=False)
    await r5.set("k", "v")
    assert await r8.get("k") == "v"
    secret = AsyncRedisStore("redis://:password@127.0.0.1:1/0")
    assert "password" not in repr(secret) and "127.0.0.1:1" in repr(secret)
    for store in (r, r8, r5, secret):
        await store.aclose()
