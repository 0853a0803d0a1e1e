"""One behavioural suite for every state backend: memory, sqlite and redis.

Key/value TTLs use each backend's own clock (Redis: the server's), so those
tests wait for real expiry with short TTLs and generous sleeps. Budget
operations take ``now`` from the caller and are fully deterministic.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from router.errors import ConfigError
from router.state import BudgetCharge, BudgetUsage, StateStore, open_store, sqlite_path

pytest_plugins = ["tests.money_fixtures"]

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def charge(key: str, limit: float, expires_at: float = NOW + 3600) -> BudgetCharge:
    return BudgetCharge(key, limit, expires_at)


# -- key/value ------------------------------------------------------------------


def test_get_set_delete(store: StateStore) -> None:
    assert store.get("a") is None
    store.set("a", "1")
    assert store.get("a") == "1"
    store.set("a", "two")
    assert store.get("a") == "two"
    store.delete("a")
    assert store.get("a") is None
    store.delete("never-there")  # no error


def test_ttl_expires(store: StateStore) -> None:
    store.set("short", "x", ttl_s=0.05)
    store.set("long", "y", ttl_s=60)
    store.set("forever", "z")
    assert store.get("short") == "x"
    time.sleep(0.3)
    assert store.get("short") is None
    assert store.get("long") == "y"
    assert store.get("forever") == "z"


def test_set_replaces_ttl(store: StateStore) -> None:
    store.set("k", "1", ttl_s=0.05)
    store.set("k", "2")  # no ttl: lives on
    time.sleep(0.3)
    assert store.get("k") == "2"


def test_nonpositive_ttl_is_already_expired(store: StateStore) -> None:
    store.set("k", "v", ttl_s=0)
    assert store.get("k") is None
    assert store.set_if_absent("k", "v", ttl_s=-1) is True
    assert store.get("k") is None
    assert store.incr("n", 5, ttl_s=0) == 5
    assert store.get("n") is None


def test_set_if_absent(store: StateStore) -> None:
    assert store.set_if_absent("lock", "me", ttl_s=0.05) is True
    assert store.set_if_absent("lock", "you") is False
    assert store.get("lock") == "me"
    time.sleep(0.3)
    assert store.set_if_absent("lock", "you") is True
    assert store.get("lock") == "you"


def test_incr(store: StateStore) -> None:
    assert store.incr("n") == 1
    assert store.incr("n", 2.5) == 3.5
    assert store.incr("n", -1) == 2.5
    assert float(store.get("n") or "nan") == 2.5
    assert store.incr("f", 0.1) + 0 == 0.1
    assert store.incr("f", 0.2) == pytest.approx(0.3)


def test_incr_ttl_only_on_create(store: StateStore) -> None:
    store.incr("w", 1, ttl_s=0.1)
    store.incr("w", 1, ttl_s=60)  # does not extend the window
    time.sleep(0.4)
    assert store.get("w") is None
    assert store.incr("w", 1, ttl_s=60) == 1


def test_incr_not_a_number(store: StateStore) -> None:
    store.set("s", "hello")
    with pytest.raises(ValueError):
        store.incr("s")


def test_incr_is_atomic_across_threads(store: StateStore) -> None:
    def work(_: int) -> None:
        for _ in range(25):
            store.incr("count")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert float(store.get("count") or 0) == 200


def test_set_if_absent_has_one_winner(store: StateStore) -> None:
    barrier = threading.Barrier(8)

    def work(i: int) -> bool:
        barrier.wait()
        return store.set_if_absent("leader", str(i), ttl_s=30)

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(work, range(8)))
    assert sum(wins) == 1
    assert store.get("leader") == str(wins.index(True))


# -- budgets ----------------------------------------------------------------------


def test_reserve_within_and_beyond_limit(store: StateStore) -> None:
    r1 = store.budget_reserve("r1", [charge("w", 1.0)], 0.6, now=NOW, hold_s=60)
    assert r1.ok and r1.refused == ()
    assert r1.usage["w"] == BudgetUsage(0.0, 0.0, 0)
    r2 = store.budget_reserve("r2", [charge("w", 1.0)], 0.6, now=NOW, hold_s=60)
    assert not r2.ok and r2.refused == ("w",)
    assert r2.usage["w"].held_usd == pytest.approx(0.6) and r2.usage["w"].holds == 1
    # An exact fit is admitted.
    assert store.budget_reserve("r3", [charge("w", 1.0)], 0.4, now=NOW, hold_s=60).ok
    assert store.budget_usage("w", now=NOW) == BudgetUsage(0.0, pytest.approx(1.0), 2)  # type: ignore[arg-type]


def test_reserve_is_all_or_nothing(store: StateStore) -> None:
    assert store.budget_reserve("fill", [charge("b", 0.5)], 0.5, now=NOW, hold_s=60).ok
    res = store.budget_reserve("x", [charge("a", 10), charge("b", 0.5)], 0.1, now=NOW, hold_s=60)
    assert not res.ok and res.refused == ("b",)
    assert store.budget_usage("a", now=NOW) == BudgetUsage()  # nothing held on "a"
    assert store.budget_usage("b", now=NOW).holds == 1


def test_zero_amount_always_fits(store: StateStore) -> None:
    store.budget_reserve("r", [charge("w", 1.0)], 1.0, now=NOW, hold_s=60)
    store.budget_commit("r", ["w"], 1.5, now=NOW)  # overspent
    assert store.budget_reserve("free", [charge("w", 1.0)], 0.0, now=NOW, hold_s=60).ok
    assert not store.budget_reserve("paid", [charge("w", 1.0)], 0.01, now=NOW, hold_s=60).ok


def test_commit_replaces_hold_with_spend_and_writes_ledger(store: StateStore) -> None:
    store.budget_reserve("r", [charge("a", 1.0), charge("b", 2.0)], 0.5, now=NOW, hold_s=60)
    found = store.budget_commit("r", ["a", "b"], 0.2, now=NOW + 1, record='{"n":1}')
    assert found == (True, True)
    for key in "ab":
        assert store.budget_usage(key, now=NOW + 1) == BudgetUsage(pytest.approx(0.2), 0.0, 0)  # type: ignore[arg-type]
    assert store.ledger_read() == ['{"n":1}']
    # The freed room is usable again.
    assert store.budget_reserve("r2", [charge("a", 1.0)], 0.8, now=NOW + 1, hold_s=60).ok


def test_release_frees_the_hold(store: StateStore) -> None:
    store.budget_reserve("r", [charge("w", 1.0)], 0.9, now=NOW, hold_s=60)
    store.budget_release("r", ["w"])
    assert store.budget_usage("w", now=NOW) == BudgetUsage()
    store.budget_release("r", ["w"])  # twice: no error
    assert store.budget_reserve("r2", [charge("w", 1.0)], 0.9, now=NOW, hold_s=60).ok


def test_holds_expire(store: StateStore) -> None:
    """A crashed process's hold stops counting once it expires."""
    store.budget_reserve("crashed", [charge("w", 1.0)], 0.9, now=NOW, hold_s=30)
    assert not store.budget_reserve("b", [charge("w", 1.0)], 0.5, now=NOW + 29, hold_s=30).ok
    assert store.budget_usage("w", now=NOW + 30) == BudgetUsage()
    assert store.budget_reserve("b", [charge("w", 1.0)], 0.5, now=NOW + 30, hold_s=30).ok
    # A late commit of the expired hold still records the spend, reported as not found.
    assert store.budget_commit("crashed", ["w"], 0.3, now=NOW + 31) == (False,)
    assert store.budget_usage("w", now=NOW + 31).spent_usd == pytest.approx(0.3)


def test_windows_are_forgotten_after_they_expire(store: StateStore) -> None:
    c = charge("w", 1.0, expires_at=NOW + 100)
    store.budget_reserve("r", [c], 0.5, now=NOW, hold_s=10)
    store.budget_commit("r", ["w"], 0.5, now=NOW + 1)
    assert store.budget_usage("w", now=NOW + 99).spent_usd == pytest.approx(0.5)
    assert store.budget_usage("w", now=NOW + 100) == BudgetUsage()
    assert store.budget_reserve("r2", [c], 1.0, now=NOW + 100, hold_s=10).ok


def test_unknown_window_is_empty(store: StateStore) -> None:
    assert store.budget_usage("nothing", now=NOW) == BudgetUsage()


def test_reserve_under_thread_contention_admits_exactly_what_fits(store: StateStore) -> None:
    barrier = threading.Barrier(10)

    def work(i: int) -> bool:
        barrier.wait()
        c = [charge("w", 1.0), charge("v", 5.0)]
        return store.budget_reserve(f"r{i}", c, 0.25, now=NOW, hold_s=60).ok

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(work, range(20)))
    assert sum(results) == 4
    assert store.budget_usage("w", now=NOW).holds == 4
    assert store.budget_usage("v", now=NOW).holds == 4


def test_ledger_order_and_time_filter(store: StateStore) -> None:
    store.ledger_append("a", ts=NOW)
    store.ledger_append("b", ts=NOW + 10)
    store.budget_commit("r", [], 0.0, now=NOW + 20, record="c")
    assert store.ledger_read() == ["a", "b", "c"]
    assert store.ledger_read(since=NOW + 10) == ["b", "c"]
    assert store.ledger_read(until=NOW + 10) == ["a"]
    assert store.ledger_read(NOW + 5, NOW + 15) == ["b"]


# -- opening ------------------------------------------------------------------------


@pytest.mark.redis
def test_open_store_urls(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from router.state import MemoryStore
    from router.state.redis import RedisStore
    from router.state.resilient import ResilientStore
    from router.state.sqlite import SQLiteStore

    assert isinstance(open_store("memory"), MemoryStore)
    s = open_store(f"sqlite://{tmp_path}/sub/state.db")
    assert isinstance(s, SQLiteStore) and (tmp_path / "sub" / "state.db").exists()
    r = open_store(redis_url)  # wrapped: the server going away degrades, not fails
    assert isinstance(r, ResilientStore) and isinstance(r.inner, RedisStore)
    assert r.inner.prefix.startswith("llm-router-test-")
    assert isinstance(open_store(redis_url, resilient=False), RedisStore)
    assert "password" not in repr(RedisStore("redis://:password@127.0.0.1:1/0"))
    with pytest.raises(ConfigError, match="unsupported state store"):
        open_store("postgres://x")
    with pytest.raises(ConfigError, match="names no file"):
        open_store("sqlite://")


def test_sqlite_path_forms() -> None:
    assert str(sqlite_path("sqlite:///var/lib/r/state.db")) == "/var/lib/r/state.db"
    assert str(sqlite_path("sqlite:////var/lib/r/state.db")) == "/var/lib/r/state.db"
    assert str(sqlite_path("sqlite://state.db")) == "state.db"


def test_sqlite_handles_share_one_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from router.state.sqlite import SQLiteStore

    a, b = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    assert a.budget_reserve("r", [charge("w", 1.0)], 0.7, now=NOW, hold_s=60).ok
    assert not b.budget_reserve("r2", [charge("w", 1.0)], 0.7, now=NOW, hold_s=60).ok
    a.set("k", "v")
    assert b.get("k") == "v"


@pytest.mark.redis
def test_redis_prefixes_isolate(redis_url: str) -> None:
    from router.state.redis import RedisStore

    a = RedisStore(redis_url)
    b = RedisStore(redis_url, prefix=a.prefix + "other:")
    a.set("k", "a")
    assert b.get("k") is None
    assert a.budget_reserve("r", [charge("w", 1.0)], 1.0, now=NOW, hold_s=60).ok
    assert b.budget_reserve("r", [charge("w", 1.0)], 1.0, now=NOW, hold_s=60).ok
    b._redis.delete(*b._redis.keys(b.prefix + "*"))


def test_many_stores_opening_a_new_sqlite_file_at_once_all_get_in(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Switching a new file to WAL takes a lock SQLite does not wait for: openers
    # racing on a fresh file once saw "database is locked".
    import threading

    from router.state.sqlite import SQLiteStore

    for round_no in range(40):
        path = tmp_path / f"race-{round_no}.db"
        errors: list[BaseException] = []
        start = threading.Barrier(12)

        def open_and_write(i: int, path=path, errors=errors, start=start) -> None:  # type: ignore[no-untyped-def]
            store = SQLiteStore(path)
            try:
                start.wait()
                store.set(f"k{i}", "v")
            except BaseException as e:  # collected and asserted below
                errors.append(e)
            finally:
                store.close()

        threads = [threading.Thread(target=open_and_write, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        check = SQLiteStore(path)
        assert [check.get(f"k{i}") for i in range(12)] == ["v"] * 12
        check.close()
