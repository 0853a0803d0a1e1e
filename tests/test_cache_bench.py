"""Smoke test of benchmarks/cache.py: it runs end to end and reports every case and ratio.

No timing thresholds: speed is what the benchmark reports, not what a test asserts.
"""

from __future__ import annotations

from benchmarks.cache import render, run_all

CASES = {"httpx", "router, no cache", "cache miss", "cache hit", "stream hit"}


def test_the_benchmark_measures_every_case_on_every_store() -> None:
    results = run_all(calls=5)
    assert set(results["stores"]) == {"memory", "sqlite"}
    for cases in results["stores"].values():
        assert set(cases) >= CASES
        assert all(cases[c]["cpu_us"] >= 0 and cases[c]["per_s"] > 0 for c in CASES)
        assert set(cases["ratios"]) == {
            "hit / miss",
            "hit / httpx",
            "miss / no cache",
            "stream hit / hit",
        }
    report = render(results)
    assert "| memory | cache hit |" in report and "| sqlite | hit / httpx |" in report
