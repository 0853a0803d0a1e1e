"""The audit log's background writer: order, backpressure, flushing, threads, failures."""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from router import AsyncRouter, Router
from router.telemetry.audit import AuditLog, verify_log
from router.telemetry.audit_writer import AuditWriter, AuditWriterError
from router.telemetry.auditing import AuditObserver
from tests.conftest import ROOT
from tests.telemetry_support import LOCAL_URL, completion, make_config

pytest_plugins = ["tests.telemetry_fixtures"]

KEY = "k3y-6d1f0c9a7b2e4f58a3c1d0e9f8a7b6c5"
MSG = [{"role": "user", "content": "hello"}]
SLOW = 0.4
"""Seconds one slowed-down write takes."""

_append_many = AuditLog.append_many


def _writer_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """Audit writer threads started since ``before``."""
    return {t for t in threading.enumerate() if t.name.startswith("audit-writer")} - before


def _tenants(path: Path) -> list[str]:
    return [json.loads(x)["tenant"] for x in path.read_text().splitlines()]


def _audit(router: Router | AsyncRouter) -> AuditObserver:
    obs = router._core.observer
    assert isinstance(obs, AuditObserver)
    return obs


@pytest.fixture
def ok(mock: respx.MockRouter) -> respx.MockRouter:
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    return mock


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every batch written: (thread name, records), each batch SLOW seconds late."""
    seen: list[tuple[str, int]] = []

    def slow(self: AuditLog, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        seen.append((threading.current_thread().name, len(records)))
        time.sleep(SLOW)
        return _append_many(self, records)

    monkeypatch.setattr(AuditLog, "append_many", slow)
    yield seen


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Writes wait until the event is set."""
    opened = threading.Event()

    def held(self: AuditLog, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        assert opened.wait(30)
        return _append_many(self, records)

    monkeypatch.setattr(AuditLog, "append_many", held)
    yield opened
    opened.set()


# -- order and chain ---------------------------------------------------------------


async def test_order_kept_and_chain_verifies_after_a_thousand_concurrent_calls(
    tmp_path: Path, ok: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    r = AsyncRouter(make_config(enabled=False, audit_log=str(log), audit_key=KEY))
    _audit(r).queue_size = 8  # small: most calls wait for room
    queued: list[str] = []
    push = AuditWriter._push

    def spy(self: AuditWriter, item: tuple[AuditLog, Mapping[str, Any]]) -> None:
        queued.append(item[1]["tenant"])  # under the writer's lock: the queue's order
        push(self, item)

    monkeypatch.setattr(AuditWriter, "_push", spy)
    n = 1000
    out = await asyncio.gather(*(r.chat(MSG, context={"tenant": f"t{i}"}) for i in range(n)))
    assert len(out) == n
    await r.aclose()
    assert _tenants(log) == queued and sorted(queued) == sorted(f"t{i}" for i in range(n))
    report = verify_log(log, r.config)
    assert report.ok and report.authenticated, report.findings[:3]
    assert report.records == report.seq == n


# -- the loop is never blocked ------------------------------------------------------


async def test_slow_audit_writes_never_block_the_event_loop(
    tmp_path: Path, ok: respx.MockRouter, writes: list[tuple[str, int]]
) -> None:
    log = tmp_path / "audit.jsonl"
    r = AsyncRouter(make_config(enabled=False, audit_log=str(log)))
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    t0 = time.perf_counter()
    for i in range(3):  # one after the other: each one's record is queued before the next
        await r.chat(MSG, context={"tenant": f"t{i}"})
    calls = time.perf_counter() - t0
    await r.aclose()  # awaits the slow writes
    closed = time.perf_counter() - t0
    stop.set()
    await tick
    assert writes and all(name.startswith("audit-writer") for name, _ in writes)
    assert calls < SLOW  # the calls did not wait for a single write…
    assert closed >= SLOW  # …aclose did wait for them…
    assert max(gaps) < SLOW / 2, max(gaps)  # …and the loop kept running throughout
    assert _tenants(log) == ["t0", "t1", "t2"]


def test_the_blocking_router_does_no_audit_io_on_the_calling_thread(
    tmp_path: Path, ok: respx.MockRouter, writes: list[tuple[str, int]]
) -> None:
    log = tmp_path / "audit.jsonl"
    with Router(make_config(enabled=False, audit_log=str(log))) as r:
        t0 = time.perf_counter()
        r.chat(MSG, context={"tenant": "a"})
        assert time.perf_counter() - t0 < SLOW
    assert [name.startswith("audit-writer") for name, _ in writes] == [True]
    assert _tenants(log) == ["a"]


# -- backpressure -------------------------------------------------------------------


def test_a_full_queue_blocks_a_thread_until_there_is_room(
    tmp_path: Path, gate: threading.Event
) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    w = AuditWriter(log.path, maxsize=2)
    for i in range(2):
        w.put(log, {"i": i})
    done: list[int] = []

    def third() -> None:
        w.put(log, {"i": 2})
        done.append(2)

    t = threading.Thread(target=third)
    t.start()
    t.join(0.2)
    assert t.is_alive() and not done  # blocked: the queue holds two unwritten records
    gate.set()
    t.join(10)
    assert done == [2]
    w.close()
    assert [json.loads(x)["i"] for x in Path(log.path).read_text().splitlines()] == [0, 1, 2]
    assert verify_log(log.path).ok


async def test_a_full_queue_makes_put_async_wait_without_blocking_the_loop(
    tmp_path: Path, gate: threading.Event
) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    w = AuditWriter(log.path, maxsize=1)
    await w.put_async(log, {"i": 0})
    waiting = asyncio.create_task(w.put_async(log, {"i": 1}))
    cancelled = asyncio.create_task(w.put_async(log, {"i": 2}))
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 10 and not waiting.done() and not cancelled.done()
    cancelled.cancel()  # cancelled while waiting: queued all the same, never lost
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.set()
    await waiting
    await w.aclose()
    got = sorted(json.loads(x)["i"] for x in Path(log.path).read_text().splitlines())
    assert got == [0, 1, 2]
    assert verify_log(log.path).ok


def test_a_router_under_backpressure_loses_nothing(
    tmp_path: Path, ok: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"

    def slowish(self: AuditLog, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        time.sleep(0.002)
        return _append_many(self, records)

    monkeypatch.setattr(AuditLog, "append_many", slowish)
    r = Router(make_config(enabled=False, audit_log=str(log)))
    _audit(r).queue_size = 2
    threads = [
        threading.Thread(
            target=lambda k=k: [r.chat(MSG, context={"tenant": f"{k}-{i}"}) for i in range(25)]
        )
        for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    r.close()
    assert sorted(_tenants(log)) == sorted(f"{k}-{i}" for k in range(4) for i in range(25))
    assert verify_log(log).ok


# -- lifecycle ------------------------------------------------------------------------


async def test_aclose_flushes_and_leaves_no_thread(
    tmp_path: Path, ok: respx.MockRouter, writes: list[tuple[str, int]]
) -> None:
    before = set(threading.enumerate())
    log = tmp_path / "audit.jsonl"
    async with AsyncRouter(make_config(enabled=False, audit_log=str(log))) as r:
        await asyncio.gather(*(r.chat(MSG, context={"tenant": f"t{i}"}) for i in range(5)))
        assert len(_writer_threads(before)) == 1
        assert not log.exists() or len(_tenants(log)) < 5  # still being written
    assert sorted(_tenants(log)) == [f"t{i}" for i in range(5)]
    assert verify_log(log).ok
    assert set(threading.enumerate()) - before == set()


def test_close_flushes_and_leaves_no_thread(tmp_path: Path, ok: respx.MockRouter) -> None:
    before = set(threading.enumerate())
    log = tmp_path / "audit.jsonl"
    with Router(make_config(enabled=False, audit_log=str(log))) as r:
        for i in range(5):
            r.chat(MSG, context={"tenant": f"t{i}"})
    assert _tenants(log) == [f"t{i}" for i in range(5)]
    assert set(threading.enumerate()) - before == set()


def test_routers_of_one_file_share_one_writer_thread(tmp_path: Path, ok: respx.MockRouter) -> None:
    before = set(threading.enumerate())
    log = tmp_path / "audit.jsonl"
    cfg = make_config(enabled=False, audit_log=str(log))
    a, b = Router(cfg), Router(cfg)
    a.chat(MSG, context={"tenant": "a"})
    b.chat(MSG, context={"tenant": "b"})
    assert _audit(a).writer() is _audit(b).writer()
    assert len(_writer_threads(before)) == 1
    a.close()  # b still uses it: flushed, not stopped
    assert sorted(_tenants(log)) == ["a", "b"] and len(_writer_threads(before)) == 1
    b.chat(MSG, context={"tenant": "c"})
    b.close()
    assert _tenants(log)[-1] == "c" and _writer_threads(before) == set()
    assert verify_log(log).ok


def test_a_router_dropped_unclosed_lets_its_writer_finish(
    tmp_path: Path, ok: respx.MockRouter
) -> None:
    before = set(threading.enumerate())
    log = tmp_path / "audit.jsonl"
    r = Router(make_config(enabled=False, audit_log=str(log)))
    r.chat(MSG, context={"tenant": "a"})
    (thread,) = _writer_threads(before)
    del r
    gc.collect()  # the observer's finalizer stops the writer, without waiting for it
    thread.join(10)
    assert not thread.is_alive()
    assert _tenants(log) == ["a"]


def test_a_router_never_closed_is_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    script = textwrap.dedent(
        f"""
        import time, httpx, respx
        from router import Router
        from router.telemetry.audit import AuditLog
        from tests.telemetry_support import LOCAL_URL, completion, make_config

        original = AuditLog.append_many
        def slow(self, records):
            time.sleep({SLOW})
            return original(self, records)
        AuditLog.append_many = slow

        with respx.mock() as m:
            m.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("s")))
            r = Router(make_config(enabled=False, audit_log={str(log)!r}))
            for i in range(3):
                r.chat([{{"role": "user", "content": "hi"}}], context={{"tenant": f"t{{i}}"}})
        print("exiting")  # without close(): the records are still queued
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert _tenants(log) == ["t0", "t1", "t2"]
    assert verify_log(log).ok


# -- failure ---------------------------------------------------------------------------


def test_a_failed_writer_is_logged_once_and_refuses_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(self: AuditLog, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AuditLog, "append_many", full)
    log = AuditLog(tmp_path / "a.jsonl", key=KEY)
    w = AuditWriter(log.path)
    with caplog.at_level(logging.ERROR, logger="router.telemetry"):
        w.put(log, {"i": 0})
        with pytest.raises(AuditWriterError, match="No space left on device"):
            w.flush()
        for i in range(3):
            with pytest.raises(AuditWriterError, match=r"stopped after OSError") as e:
                w.put(log, {"i": i})
            assert str(log.path) in str(e.value) and isinstance(e.value.__cause__, OSError)
        w.close()
    stopped = [m for m in caplog.messages if "the audit writer stopped" in m]
    assert len(stopped) == 1 and "1 queued record(s) lost" in stopped[0]
    assert KEY not in caplog.text
    assert w.failed and w._thread is not None and not w._thread.is_alive()


def test_a_router_whose_writer_failed_keeps_answering_and_says_so(
    tmp_path: Path,
    ok: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(self: AuditLog, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(AuditLog, "append_many", broken)
    r = Router(make_config(enabled=False, audit_log=str(tmp_path / "audit.jsonl")))
    with caplog.at_level(logging.ERROR, logger="router.telemetry"):
        r.chat(MSG)
        with pytest.raises(AuditWriterError):
            _audit(r).flush()
        assert r.chat(MSG).content  # the request is not failed…
        r.close()
    # …but the lost record is not silent: the writer's error once, then each refused record.
    assert sum("the audit writer stopped" in m for m in caplog.messages) == 1
    assert any(m.endswith("AuditWriterError") for m in caplog.messages)
