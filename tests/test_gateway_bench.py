"""Smoke test of benchmarks/gateway.py's latency phase: every path gets its requests, in
interleaved blocks, against the fake upstream (no timing threshold)."""

from __future__ import annotations

from benchmarks.gateway import fake_upstream, latency


def test_latency_interleaves_the_paths_and_counts_every_request() -> None:
    with fake_upstream() as up:
        paths = {"a": (up, "sk-a", "bench-model"), "b": (up, "sk-b", "bench-model")}
        lat = latency(paths, 6, block=2)
    assert set(lat) == {"a", "b"}
    assert all(len(v) == 6 and all(ms > 0 for ms in v) for v in lat.values())
