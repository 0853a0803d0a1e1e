"""AsyncRouter awaits every state step on an async store; none runs on its event loop.

The walker, breakers, health, budgets and migration guards are store programs
(router/state/program.py): the sync driver runs them on a sync store, the async
driver awaits them on an async one. These tests would catch a step that still
calls the sync store from the loop (the sync store is booby-trapped), a Redis
store whose commands are never two in flight (a latency proxy counts them), and
the two drivers disagreeing (the same scenario leaves the same state).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from router import AsyncRouter, Router
from router.errors import BudgetExceeded, NoEligibleTarget, ProviderUnavailable
from router.state import MemoryStore
from router.state.aio import AsyncMemoryStore
from router.state.aio._delegate import _SyncBacked
from router.state.aio.thread import AsyncThreadStore
from router.state.base import OPERATIONS, StateStore
from router.state.program import Program, arun, op, run
from router.state.sqlite import SQLiteStore
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config

pytest_plugins = ["tests.resilience_fixtures"]

T = TypeVar("T")

OPS = OPERATIONS
BREAKER = {"failures": 2, "window_s": 60, "cooldown_s": 30}


def _config(faults: FaultServer, **extra: Any) -> dict[str, Any]:
    """Two priced targets behind breakers, a tenant budget and a guarded 50/50 split."""
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        breaker=BREAKER,
        route={
            "split": [{"model": "a", "weight": 50}, {"model": "b", "weight": 50}],
            "sticky_by": "user",
            "guard": {
                "model": "b",
                "baseline": "a",
                "metric": "error_rate",
                "max_value": 0.3,
                "min_samples": 2,
                "window_s": 600,
            },
        },
    )
    for m in cfg["models"].values():
        m["price"] = {"input": 1.0, "output": 2.0}
    cfg["rules"] = [{"name": "cap", "budget": {"usd": 100.0, "per": "day", "key": "tenant"}}]
    cfg.update(extra)
    return cfg


class Spy(_SyncBacked):
    """An async store over a memory store of its own that records each operation."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.calls: list[str] = []

    async def _call(self, op: Callable[[StateStore], T]) -> T:
        return op(self.inner)

    def __getattribute__(self, name: str) -> Any:
        attr = object.__getattribute__(self, name)
        if name not in OPS:
            return attr
        calls = object.__getattribute__(self, "calls")

        async def recorded(*a: Any, **k: Any) -> Any:
            calls.append(name)
            return await attr(*a, **k)

        return recorded


def _trap(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every operation of the sync ``store`` fail the test."""

    def boom(name: str) -> Any:
        def f(*a: Any, **k: Any) -> Any:
            raise AssertionError(f"sync store .{name}() called on a call's path")

        return f

    for name in OPS:
        monkeypatch.setattr(store, name, boom(name))


# -- the programs and their two drivers ------------------------------------------


def _counter(key: str) -> Program[float]:
    try:
        n = yield op("incr", key, 2.0)
    except KeyError:
        return -1.0
    yield op("set", key + ":seen", "1")
    return float(n)


def test_both_drivers_run_one_program_to_the_same_state() -> None:
    sync = MemoryStore()
    assert run(_counter("k"), sync) == 2.0
    assert run(_counter("k"), sync) == 4.0

    async def go() -> tuple[float, str | None]:
        store = AsyncMemoryStore()
        await arun(_counter("k"), store)
        n = await arun(_counter("k"), store)
        return n, await store.get("k:seen")

    assert asyncio.run(go()) == (4.0, "1")
    assert sync.get("k:seen") == "1"


def test_a_failing_operation_is_thrown_into_the_program() -> None:
    class Failing(MemoryStore):
        def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
            raise KeyError(key)

    # The program handles it: its own answer, and no later operation ran.
    store = Failing()
    assert run(_counter("k"), store) == -1.0
    assert store.get("k:seen") is None


def test_an_unhandled_store_error_propagates_from_both_drivers() -> None:
    class Down(MemoryStore):
        def get(self, key: str) -> str | None:
            raise ConnectionError("down")

    def reads() -> Program[str | None]:
        return (yield op("get", "x"))

    with pytest.raises(ConnectionError):
        run(reads(), Down())
    with pytest.raises(ConnectionError):
        asyncio.run(arun(reads(), AsyncMemoryStore(Down())))


# -- AsyncRouter: every step awaited on the async store ----------------------------


def test_async_router_never_calls_the_sync_store_on_a_calls_path(
    faults: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Breakers (opening included), health, budget holds and commits, split and guard,
    shadows: all awaited on the async store; the router's sync store is never touched."""
    faults.default("a", Fault.ok())
    faults.default("b", Fault.http(503))
    spy = Spy()
    cfg = _config(faults)
    shadow_log = tmp_path / "shadow.jsonl"
    cfg["routes"]["s"] = {
        "candidates": ["a"],
        "shadow": {"model": "b", "sample_pct": 100, "max_concurrency": 4, "log": str(shadow_log)},
    }

    async def go() -> list[str]:
        async with AsyncRouter(cfg, store=spy) as r:
            _trap(r.store, monkeypatch)
            targets = []
            for i in range(12):
                ctx = {"tenant": "acme", "user": f"u{i}"}
                try:
                    reply = await r.chat(MESSAGES, model="r", context=ctx)
                    assert reply.route is not None
                    targets.append(reply.route.target)
                except ProviderUnavailable:
                    targets.append("failed")
                async with r.stream(MESSAGES, model="r", context=ctx) as s:
                    async for _ in s:
                        pass
            for i in range(3):
                await r.chat(MESSAGES, model="s", context={"tenant": "acme", "user": f"s{i}"})
            return targets

    targets = asyncio.run(go())
    assert "a" in targets
    seen = set(spy.calls)
    # breaker/health reads and writes, the guard's counters, the budget's hold and commit
    assert {"get", "set", "incr", "delete", "budget_reserve", "budget_commit"} <= seen
    assert "set_if_absent" in seen  # b's breaker opened or the guard tripped
    # Shadows ran (b failing, or refused behind its open breaker) without touching it either.
    assert not [m for m in caplog.messages if "crashed" in m], caplog.messages
    assert spy.calls.count("incr") > 0
    assert spy.inner.get("mig:sh:s:b:sampled") == repr(3.0)


def test_async_router_never_calls_the_sync_store_on_its_cache_path(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Response-cache lookups, writes, evictions and hits (chat and stream, with their
    ledger records) are awaited on the async store; the sync store is never touched."""
    faults.default("a", Fault.ok("cached words"))
    faults.default("b", Fault.ok("cached words"))
    spy = Spy()
    cfg = _config(faults)
    cfg["routes"]["c"] = {"candidates": ["a"], "cache": {"ttl_s": 60, "max_entries": 2}}
    asks = [[{"role": "user", "content": f"question {i}"}] for i in range(3)]

    async def go() -> list[str | None]:
        seen: list[str | None] = []
        async with AsyncRouter(cfg, store=spy) as r:
            _trap(r.store, monkeypatch)
            for m in (*asks, asks[2]):  # three misses (one eviction), then a hit
                reply = await r.chat(m, model="c", temperature=0, context={"tenant": "acme"})
                assert reply.route is not None
                seen.append(reply.route.cache)
            async with r.stream(asks[2], model="c", temperature=0, context={"tenant": "acme"}) as s:
                text = "".join([c.delta_text async for c in s])
            assert text == "cached words"
            seen.append(s.response.route.cache if s.response.route else None)
            async with r.stream(asks[1], model="c", temperature=0) as s:  # a streamed miss
                async for _ in s:
                    pass
        return seen

    assert asyncio.run(go()) == ["miss", "miss", "miss", "hit", "hit"]
    assert faults.count("a") == 4
    assert {"get", "set", "incr", "delete", "ledger_append"} <= set(spy.calls)
    assert spy.inner.get("cache|n|c") is not None  # the ring counter lives in the async store


def test_async_router_awaits_its_limits_on_the_async_store(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rate, token and in-flight limits, a tenant's rule limit, tpm corrections and
    header marks: all awaited on the async store, never the sync one."""
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    faults.default("a", Fault.ok(headers=headers))
    faults.default("b", Fault.ok())
    spy = Spy()
    cfg = _config(faults)
    del cfg["routes"]["r"]["split"], cfg["routes"]["r"]["guard"], cfg["routes"]["r"]["sticky_by"]
    cfg["models"]["a"]["limits"] = {"rpm": 100, "tpm": 100_000, "max_in_flight": 4}
    cfg["providers"]["b"]["limits"] = {"max_in_flight": 1}
    cfg["rules"].append({"name": "per-tenant", "limit": {"rpm": 50, "key": "tenant"}})

    async def go() -> list[str]:
        async with AsyncRouter(cfg, store=spy) as r:
            _trap(r.store, monkeypatch)
            targets = []
            for _ in range(3):
                reply = await r.chat(MESSAGES, model="r", context={"tenant": "acme"})
                assert reply.route is not None
                targets.append(reply.route.target)
            async with r.stream(MESSAGES, model="r", context={"tenant": "acme"}) as s:
                async for _ in s:
                    pass
            return targets

    targets = asyncio.run(go())
    # a answered, and said it had no request left: the next calls steered to b.
    assert targets == ["a", "b", "b"]
    # Under the tenant's budget each call's first try took its limits with the hold.
    assert {"admit", "limit_release", "get_many", "set"} <= set(spy.calls)
    assert spy.inner.get("rl:a") is not None


def test_async_router_over_a_sync_store_runs_its_steps_off_the_loop(
    faults: FaultServer, tmp_path: Any
) -> None:
    """A sync SQLiteStore passed in: its operations run on a worker thread, never the loop's."""
    faults.default("a", Fault.ok())
    faults.default("b", Fault.ok())
    threads: list[str] = []
    store = SQLiteStore(tmp_path / "s.db")
    original = store.get

    def get(key: str) -> str | None:
        threads.append(threading.current_thread().name)
        return original(key)

    store.get = get  # type: ignore[method-assign]

    async def go() -> str:
        async with AsyncRouter(_config(faults), store=store) as r:
            assert isinstance(r._astore, AsyncThreadStore)
            await r.chat(MESSAGES, model="r", context={"tenant": "t"})
            return threading.current_thread().name

    loop_thread = asyncio.run(go())
    assert threads, "the store was read"
    assert loop_thread not in threads
    # The router did not close the caller's store.
    assert store.get("anything") is None
    store.close()


def test_sync_and_async_routers_leave_the_same_state(faults: FaultServer) -> None:
    """One implementation of the decisions: the same scenario, driven sync and async,
    gives the same targets, attempts and budget spend."""
    faults.default("a", Fault.ok())
    faults.default("b", Fault.http(503))
    contexts = [{"tenant": "acme", "user": f"u{i}"} for i in range(10)]

    def outcomes(replies: list[Any]) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (x.route.target, tuple(a.outcome for a in x.route.attempts))
            if not isinstance(x, BaseException)
            else (type(x).__name__, ())
            for x in replies
        ]

    sync_store = MemoryStore(clock=lambda: 1_000_000.0)
    with Router(_config(faults), store=sync_store, clock=lambda: 1_000_000.0) as r:
        sync = []
        for c in contexts:
            try:
                sync.append(r.chat(MESSAGES, model="r", context=c))
            except ProviderUnavailable as e:
                sync.append(e)

    async_store = MemoryStore(clock=lambda: 1_000_000.0)

    async def go() -> list[Any]:
        out: list[Any] = []
        async with AsyncRouter(_config(faults), store=async_store, clock=lambda: 1_000_000.0) as r:
            for c in contexts:
                try:
                    out.append(await r.chat(MESSAGES, model="r", context=c))
                except ProviderUnavailable as e:
                    out.append(e)
        return out

    assert outcomes(asyncio.run(go())) == outcomes(sync)

    def state(store: MemoryStore) -> dict[str, str | None]:
        # Latencies differ between runs: their averages and histogram bins are left out.
        keys = [
            k for k in store._data if not k.startswith("lat:") and not re.search(r":[ch]\d+$", k)
        ]
        return {k: store.get(k) for k in sorted(keys)}

    assert state(async_store) == state(sync_store)
    spent = [len(s.ledger_read()) for s in (sync_store, async_store)]
    assert spent[0] == spent[1] > 0


def test_async_stream_decides_when_entered_and_validates_at_once(faults: FaultServer) -> None:
    faults.default("a", Fault.ok())
    faults.default("b", Fault.ok())
    cfg = _config(faults)
    cfg["rules"] = [
        {"name": "cap", "budget": {"usd": 1e-12, "per": "day", "key": "tenant"}},
    ]

    async def go() -> None:
        async with AsyncRouter(cfg) as r:
            with pytest.raises(TypeError):
                r.stream(MESSAGES, model="r", not_a_parameter=1)
            s = r.stream(MESSAGES, model="r", context={"tenant": "t"})
            with pytest.raises(RuntimeError, match="entered"):
                _ = s.decision
            with pytest.raises(BudgetExceeded):
                async with s:
                    pass
            # A refused stream cannot be entered again.
            with pytest.raises(Exception, match="refused or closed"):
                async with s:
                    pass
            # A stream closed without being entered decides nothing.
            never = r.stream(MESSAGES, model="r", context={"tenant": "t"})
            await never.aclose()
            # A request no target may take is refused on entering, too.
            with pytest.raises(NoEligibleTarget):
                async with r.stream(MESSAGES, model="r", context={"max_cost_usd": 1e-12}):
                    pass

    asyncio.run(go())


# -- Redis: commands of concurrent calls are in flight together --------------------


class PendingProxy:
    """A TCP proxy (its own thread and loop) that delays replies and counts the
    commands waiting for their reply at the same moment, over all its connections
    (a client may pipeline many on one)."""

    def __init__(self, target_port: int, delay_s: float) -> None:
        self.target_port, self.delay_s = target_port, delay_s
        self.pending = self.max_pending = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def _mark(self, delta: int) -> None:
        with self._lock:
            self.pending += delta
            self.max_pending = max(self.max_pending, self.pending)

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        from router.state.aio.resp import ReplyParser

        sr, sw = await asyncio.open_connection("127.0.0.1", self.target_port)
        # Commands are RESP arrays too: one parser counts each direction's messages.
        commands, replies = ReplyParser(), ReplyParser()
        waiting = 0

        async def up() -> None:
            nonlocal waiting
            while data := await cr.read(65536):
                n = len(commands.feed(data))
                waiting += n
                self._mark(+n)
                sw.write(data)
                await sw.drain()
            sw.close()

        async def down() -> None:
            nonlocal waiting
            while data := await sr.read(65536):
                await asyncio.sleep(self.delay_s)
                n = len(replies.feed(data))
                waiting -= n
                self._mark(-n)
                cw.write(data)
                await cw.drain()
            cw.close()

        await asyncio.gather(up(), down(), return_exceptions=True)
        self._mark(-waiting)

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def slow_redis(redis_url: str) -> Iterator[tuple[PendingProxy, str]]:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    proxy = PendingProxy(parts.port or 6379, 0.02)
    yield proxy, redis_url.replace(f":{parts.port}/", f":{proxy.port}/", 1)
    proxy.close()


def test_concurrent_calls_have_their_redis_commands_in_flight_together(
    faults: FaultServer, slow_redis: tuple[PendingProxy, str]
) -> None:
    """With Redis 20 ms away, 16 concurrent calls wait on the store together: a
    router blocking its loop on each command would never have two in flight."""
    proxy, url = slow_redis
    faults.default("a", Fault.ok())
    faults.default("b", Fault.ok())

    async def go() -> list[Any]:
        async with AsyncRouter(_config(faults, state=url)) as r:
            await r.chat(MESSAGES, model="r", context={"tenant": "warm"})
            return await asyncio.gather(
                *(r.chat(MESSAGES, model="r", context={"tenant": f"t{i}"}) for i in range(16)),
                return_exceptions=True,
            )

    replies = asyncio.run(go())
    assert all(not isinstance(x, BaseException) for x in replies), replies
    assert proxy.max_pending >= 8, proxy.max_pending


def test_async_embed_never_calls_the_sync_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Embeddings go through the same programs: breaker, health, budget hold and commit
    awaited on the async store."""
    import respx

    from tests.test_embeddings import answer, config

    cfg = config(rules=[{"name": "cap", "budget": {"usd": 10.0, "per": "day", "key": "tenant"}}])
    cfg["providers"]["cloud"]["breaker"] = BREAKER
    spy = Spy()

    async def go() -> int:
        with respx.mock(assert_all_called=False) as m:
            m.post("http://127.0.0.1:9402/v1/embeddings").mock(side_effect=answer)
            async with AsyncRouter(cfg, store=spy) as r:
                _trap(r.store, monkeypatch)
                res = await r.embed(["alpha", "beta"], context={"tenant": "acme"})
                return len(res.data)

    assert asyncio.run(go()) == 2
    assert {"get_many", "budget_reserve", "budget_commit"} <= set(spy.calls)
