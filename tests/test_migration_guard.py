"""Guards: statistics in the store, automatic rollback, sharing across routers, resume."""

# ruff: noqa: F811  (pytest fixtures imported from migration_fixtures)

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router import AsyncRouter, Router
from router.cli import main
from router.config.schema import GuardConfig, RouteConfig
from router.migration import evaluate, guard_status, record_attempts, resume, tripped_arms
from router.migration.stats import latency_bin, read_window, record
from router.state import MemoryStore
from router.types import Attempt

from .migration_fixtures import ASK, FakeServer, local, migration_config, paid  # noqa: F401

T0 = 1_800_000_000.0


def _route(**guard: Any) -> RouteConfig:
    g = {
        "model": "llama",
        "baseline": "gpt",
        "metric": "error_rate",
        "max_ratio": 2.0,
        "window_s": 600,
        "min_samples": 20,
        **guard,
    }
    return RouteConfig(
        split=[{"model": "llama", "weight": 50}, {"model": "gpt", "weight": 50}],  # type: ignore[list-item]
        guard=g,  # type: ignore[arg-type]
    )


def _feed(
    store: MemoryStore,
    route: RouteConfig,
    target: str,
    n: int,
    errors: int,
    latency_s: float = 0.1,
    now: float = T0,
) -> list[str]:
    reasons = []
    for i in range(n):
        # Errors spread evenly through the run, as a steady regression would.
        err = (i + 1) * errors // n > i * errors // n
        a = Attempt(target=target, outcome="error" if err else "ok", latency_s=latency_s)
        why = record_attempts(store, "support", route, [a], now)
        if why:
            reasons.append(why)
    return reasons


def test_an_error_rate_regression_trips_once_with_a_log_line_and_a_span_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, route = MemoryStore(), _route()
    _feed(store, route, "gpt", 100, 5)  # baseline: 5%
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with (
        caplog.at_level(logging.WARNING, logger="router.migration"),
        provider.get_tracer("t").start_as_current_span("request"),
    ):
        reasons = _feed(store, route, "llama", 40, 12)  # 30%: 6x the baseline
        reasons += _feed(store, route, "llama", 40, 12)
    assert len(reasons) == 1, "only the call that trips it reports it"
    assert "error_rate 0.300" in reasons[0] and "max_ratio 2" in reasons[0]
    assert tripped_arms(store, "support", route) == {"llama": reasons[0]}
    logs = [r for r in caplog.records if r.name == "router.migration"]
    assert len(logs) == 1 and "rolled back to 0%" in logs[0].getMessage()
    events = [e for s in exporter.get_finished_spans() for e in s.events]
    assert [e.name for e in events] == ["llm_router.migration.guard_tripped"]
    assert events[0].attributes is not None
    assert events[0].attributes["llm_router.arm"] == "llama"


def test_no_trip_before_min_samples_nor_within_the_ratio() -> None:
    store, route = MemoryStore(), _route()
    _feed(store, route, "gpt", 100, 10)  # 10%
    assert _feed(store, route, "llama", 19, 19) == []  # 100% but too few samples
    assert tripped_arms(store, "support", route) == {}
    store2 = MemoryStore()
    _feed(store2, route, "gpt", 100, 10)
    assert _feed(store2, route, "llama", 100, 15) == []  # 15% = 1.5x < 2x
    assert evaluate(store2, "support", route.guard, T0) is None  # type: ignore[arg-type]


def test_a_flawless_baseline_does_not_make_one_error_a_breach() -> None:
    store, route = MemoryStore(), _route()
    _feed(store, route, "gpt", 100, 0)
    assert _feed(store, route, "llama", 100, 3) == []  # 3 errors: not evidence of 2x
    assert _feed(store, route, "llama", 100, 30) != []


def test_a_baseline_without_samples_cannot_trip_a_ratio_guard_but_max_value_can() -> None:
    store, route = MemoryStore(), _route()
    assert _feed(store, route, "llama", 50, 50) == []
    route2 = _route(max_ratio=None, max_value=0.2)
    assert _feed(MemoryStore(), route2, "llama", 50, 10) == []  # 20%: not above 20%
    why = _feed(MemoryStore(), route2, "llama", 100, 40)[0]
    assert why.startswith("error_rate 0.400 over 20 calls") and "> max_value 0.200" in why


def test_old_failures_leave_the_window() -> None:
    store, route = MemoryStore(), _route()
    _feed(store, route, "gpt", 100, 0, now=T0)
    _feed(store, route, "llama", 15, 15, now=T0)
    # 15 failures 20 minutes ago are out of the 10-minute window: no trip.
    later = T0 + 1200
    _feed(store, route, "gpt", 100, 0, now=later)
    assert _feed(store, route, "llama", 20, 0, now=later) == []
    w = read_window(store, "support", "llama", 0, now=later, window_s=600)
    assert (w.samples, w.errors) == (20, 0)


def test_p95_latency_guard_by_value_and_by_ratio() -> None:
    store, route = MemoryStore(), _route(metric="p95_latency_ms", max_ratio=None, max_value=500)
    assert _feed(store, route, "llama", 30, 0, latency_s=0.2) == []
    why = _feed(store, route, "llama", 30, 0, latency_s=2.0)
    assert why and "p95_latency_ms" in why[0] and "> max_value 500ms" in why[0]

    store, route = MemoryStore(), _route(metric="p95_latency_ms", max_ratio=3.0)
    _feed(store, route, "gpt", 40, 0, latency_s=0.1)
    assert _feed(store, route, "llama", 40, 0, latency_s=0.2) == []  # 2x
    assert _feed(store, route, "llama", 400, 0, latency_s=0.5) != []  # p95 ~500ms = 5x


def test_p95_histogram_accuracy() -> None:
    store = MemoryStore()
    for ms in range(1, 1001):  # uniform 1..1000 ms: p95 = 950
        record(store, "r", "a", 0, ok=True, latency_ms=float(ms), now=T0, window_s=60)
    w = read_window(store, "r", "a", 0, now=T0, window_s=60)
    assert w.p95_ms is not None and 950 * 0.85 < w.p95_ms < 950 * 1.15
    assert latency_bin(0.2) == 0 and latency_bin(10**9) == latency_bin(10**10)


def test_caller_errors_and_other_targets_are_not_counted() -> None:
    store, route = MemoryStore(), _route()
    attempts = [
        Attempt(target="llama", outcome="error", error="InvalidRequestError"),
        Attempt(target="sonnet", outcome="error", error="ProviderUnavailable"),
        Attempt(target="llama", outcome="skipped"),
    ]
    record_attempts(store, "support", route, attempts, T0)
    st = guard_status(store, "support", route, T0)
    assert st.arm.samples == 0 and st.baseline.samples == 0


def test_resume_re_arms_and_restarts_statistics() -> None:
    store, route = MemoryStore(), _route()
    _feed(store, route, "gpt", 100, 0)
    assert _feed(store, route, "llama", 40, 40)
    assert "TRIPPED" in guard_status(store, "support", route, T0).describe()
    assert resume(store, "support", "llama") is True
    assert tripped_arms(store, "support", route) == {}
    st = guard_status(store, "support", route, T0)
    assert st.arm.samples == 0 and st.baseline.samples == 100 and "ARMED" in st.describe()
    assert _feed(store, route, "llama", 20, 0) == []  # old failures do not re-trip it
    assert resume(store, "support", "llama") is False


def test_guard_config_needs_a_threshold() -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        GuardConfig(model="a", baseline="b")


# -- end to end, against fault-injecting local servers ------------------------

GUARD = {
    "model": "llama",
    "baseline": "gpt",
    "metric": "error_rate",
    "max_ratio": 2.0,
    "window_s": 600,
    "min_samples": 10,
}


def _cfg(paid: FakeServer, local: FakeServer) -> dict[str, Any]:
    return migration_config(
        paid.url,
        local.url,
        guard=GUARD,
        split=[{"model": "llama", "weight": 50}, {"model": "gpt", "weight": 50}],
    )


def test_rollback_under_injected_faults_is_shared_and_resume_re_arms(
    paid: FakeServer,
    local: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    one = Router(_cfg(paid, local))
    local.fail = True
    answers = [one.chat(ASK, model="support", context={"user": f"u{i}"}) for i in range(60)]
    # Every caller got an answer: failed llama attempts fell back to gpt.
    assert all(a.content == paid.reply for a in answers)
    assert tripped_arms(one.store, "support", one.config.routes["support"])
    sent_to_local = local.calls
    assert 10 <= sent_to_local < 60
    for i in range(60, 100):
        r = one.chat(ASK, model="support", context={"user": f"u{i}"})
        assert r.route is not None and r.route.target == "gpt"
        assert [a.target for a in r.route.attempts] == ["gpt"]
    assert local.calls == sent_to_local, "a rolled-back arm gets no traffic"

    # A second router sharing the store sees the rollback.
    two = Router(_cfg(paid, local), store=one.store)
    local.fail = False
    for i in range(40):
        d = two.explain(ASK, model="support", context={"user": f"u{i}"})
        assert d.target_names == ("gpt", "llama")
        assert any("rolled back by its guard" in n for n in d.notes)
    two.chat(ASK, model="support", context={"user": "u1"})
    assert local.calls == sent_to_local

    # The CLI sees the shared store too (a shared backend would be opened by URL).
    path = tmp_path / "router.yaml"
    import yaml

    path.write_text(yaml.safe_dump(_cfg(paid, local)))
    monkeypatch.setattr("router.state.open_store", lambda url: one.store)
    assert main(["migration", "status", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ROLLED BACK" in out and "TRIPPED" in out and "error_rate" in out
    assert main(["migration", "resume", str(path), "--route", "support"]) == 0
    assert "re-armed llama on route support" in capsys.readouterr().out
    on_llama = [
        f"u{i}"
        for i in range(40)
        if two.explain(ASK, model="support", context={"user": f"u{i}"}).plan[0].name == "llama"
    ]
    assert on_llama
    r = two.chat(ASK, model="support", context={"user": on_llama[0]})
    assert r.route is not None and r.route.target == "llama" and r.content == local.reply
    one.close()
    two.close()


async def test_async_rollback_under_injected_faults(
    paid: FakeServer,
    local: FakeServer,
) -> None:
    async with AsyncRouter(_cfg(paid, local)) as r:
        local.fail = True
        for i in range(60):
            resp = await r.chat(ASK, model="support", context={"user": f"u{i}"})
            assert resp.content == paid.reply
        assert tripped_arms(r.store, "support", r.config.routes["support"])
        before = local.calls
        for i in range(60, 80):
            resp = await r.chat(ASK, model="support", context={"user": f"u{i}"})
            assert resp.route is not None and resp.route.target == "gpt"
        assert local.calls == before


def test_cli_resume_refuses_a_wrong_model(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    path = tmp_path / "router.yaml"
    path.write_text(
        yaml.safe_dump(
            migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", guard=GUARD)
        )
    )
    assert main(["migration", "resume", str(path), "--route", "support", "--model", "gpt"]) == 2
    assert "guards 'llama', not 'gpt'" in capsys.readouterr().err
    assert main(["migration", "resume", str(path), "--route", "nope"]) == 2


def test_a_call_that_fails_everywhere_still_counts(paid: FakeServer, local: FakeServer) -> None:
    from router.errors import ProviderError

    paid.fail = local.fail = True
    with Router(_cfg(paid, local)) as r:
        with pytest.raises(ProviderError):
            r.chat(ASK, model="support", context={"user": "u1"})
        st = guard_status(r.store, "support", r.config.routes["support"], time.time())
    # The arm, last in this plan, is retried twice by default: each try is a sample.
    assert (st.arm.samples, st.arm.errors) == (3, 3)
    assert (st.baseline.samples, st.baseline.errors) == (1, 1)


@pytest.mark.parametrize("slow,expect_ms", [(4, 10.0), (10, 5000.0), (50, 5000.0), (0, 10.0)])
def test_p95_of_a_bimodal_latency(slow: int, expect_ms: float) -> None:
    store = MemoryStore()
    for i in range(100):
        ms = 5000.0 if i < slow else 10.0
        record(store, "r", "a", 0, ok=True, latency_ms=ms, now=T0, window_s=60)
    w = read_window(store, "r", "a", 0, now=T0, window_s=60)
    assert w.p95_ms is not None and expect_ms * 0.88 < w.p95_ms < expect_ms * 1.12
