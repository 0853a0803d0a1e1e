"""The ramp schedule: linear in snapshot time, others share the rest by their weights."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from router import Router
from router.config import load_dict, load_file
from router.config.schema import RampConfig, RouteConfig
from router.errors import ConfigError
from router.migration import arm_weights, ramp_pct

from .migration_fixtures import migration_config

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def route(**ramp: Any) -> RouteConfig:
    r = {
        "model": "llama",
        "from_pct": 0,
        "to_pct": 100,
        "start": "2026-12-01",
        "end": "2026-12-15",
        **ramp,
    }
    return RouteConfig(
        split=[
            {"model": "llama", "weight": 1},
            {"model": "gpt", "weight": 3},  # type: ignore[list-item]
            {"model": "sonnet", "weight": 1},
        ],
        ramp=r,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "day,pct",
    [
        (-3, 0.0),
        (0, 0.0),
        (1, 100 / 14),
        (3.5, 25.0),
        (7, 50.0),
        (10.5, 75.0),
        (14, 100.0),
        (30, 100.0),
    ],
)
def test_ramp_schedule_at_several_instants(day: float, pct: float) -> None:
    r = route()
    assert r.ramp is not None
    assert ramp_pct(r.ramp, START + day * DAY) == pytest.approx(pct)
    w = arm_weights(r, START + day * DAY)
    assert w["llama"] == pytest.approx(pct)
    # gpt and sonnet share the rest 3:1, as configured.
    assert w["gpt"] == pytest.approx((100 - pct) * 0.75)
    assert w["sonnet"] == pytest.approx((100 - pct) * 0.25)
    assert sum(w.values()) == pytest.approx(100.0)


def test_a_downward_ramp_and_datetimes_with_offsets() -> None:
    r = route(
        from_pct=80, to_pct=20, start="2026-12-01T00:00:00+01:00", end="2026-12-01T06:00:00+01:00"
    )
    assert r.ramp is not None
    t0 = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()
    assert ramp_pct(r.ramp, t0) == 80
    assert ramp_pct(r.ramp, t0 + 3 * 3600) == pytest.approx(50)
    assert ramp_pct(r.ramp, t0 + 6 * 3600) == 20


def test_a_guard_rollback_beats_the_ramp() -> None:
    w = arm_weights(route(), START + 7 * DAY, {"llama": "tripped"})
    assert w["llama"] == 0 and w["gpt"] == pytest.approx(37.5)


def test_unquoted_yaml_dates_are_accepted(tmp_path: Any) -> None:
    cfg = migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")
    text = (
        "providers:\n"
        "  openai: {kind: vllm, base_url: 'http://127.0.0.1:1/v1', zone: frontier}\n"
        "  gpu: {kind: vllm, base_url: 'http://127.0.0.1:2/v1', zone: local}\n"
        "models:\n"
        "  gpt: {provider: openai, model: g}\n"
        "  llama: {provider: gpu, model: l}\n"
        "routes:\n"
        "  support:\n"
        "    split: [{model: llama, weight: 20}, {model: gpt, weight: 80}]\n"
        "    ramp: {model: llama, from_pct: 20, to_pct: 100, start: 2026-12-01, end: 2026-12-15}\n"
    )
    p = tmp_path / "r.yaml"
    p.write_text(text)
    ramp = load_file(p).routes["support"].ramp
    assert ramp is not None and ramp.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert cfg  # the builder and the YAML describe the same shape


@pytest.mark.parametrize(
    "ramp,msg",
    [
        ({"start": "2026-12-15", "end": "2026-12-01"}, "end must be after its start"),
        ({"start": "soon"}, "not an ISO date"),
        ({"model": "gpt-5"}, "must be one of the split arms"),
        ({"to_pct": 120}, "less than or equal to 100"),
    ],
)
def test_bad_ramps_are_config_errors(ramp: dict[str, Any], msg: str) -> None:
    r = {
        "model": "llama",
        "from_pct": 0,
        "to_pct": 100,
        "start": "2026-12-01",
        "end": "2026-12-15",
        **ramp,
    }
    with pytest.raises(ConfigError, match=msg):
        load_dict(migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", ramp=r))


def test_the_router_reads_ramp_time_from_its_snapshot_clock() -> None:
    ramp = {
        "model": "llama",
        "from_pct": 0,
        "to_pct": 100,
        "start": "2026-12-01",
        "end": "2026-12-15",
    }
    now = START
    r = Router(
        migration_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", ramp=ramp),
        clock=lambda: now,
    )
    ask = [{"role": "user", "content": "hi"}]
    firsts = {}
    for day in (0, 7, 14):
        now = START + day * DAY
        firsts[day] = [
            r.explain(ask, model="support", context={"user": f"u{i}"}).plan[0].name
            for i in range(400)
        ]
    assert firsts[0].count("llama") == 0
    assert 150 < firsts[7].count("llama") < 250
    assert firsts[14].count("llama") == 400
    # Users on llama at day 7 stay on llama at day 14 (a ramp only adds users).
    assert all(firsts[14][i] == "llama" for i, a in enumerate(firsts[7]) if a == "llama")
    note = r.explain(ask, model="support", context={"user": "u1"}).explain()
    assert "ramp: llama at 100.0%" in note
    r.close()


def test_ramp_config_round_trips() -> None:
    r = RampConfig(model="a", from_pct=1, to_pct=2, start="2026-01-01", end="2026-01-02")  # type: ignore[arg-type]
    assert RampConfig.model_validate(r.model_dump()) == r
