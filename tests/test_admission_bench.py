"""Smoke test of benchmarks/admission.py: it runs on Redis and counts the round trip saved.

No timing thresholds: speed is what the benchmark reports, not what a test asserts.
"""

from __future__ import annotations

import pytest

from benchmarks.admission import run


@pytest.mark.redis
def test_the_benchmark_compares_one_and_two_operation_admissions(redis_url: str) -> None:
    out = run(redis_url, n=5, rounds=2)
    trips = out["round_trips_per_call"]
    # The merged admission is one round trip fewer per call, whatever the marks cost.
    assert trips["two"] - trips["one"] == pytest.approx(1.0, abs=0.1)
    assert out["one_op_admission_us"] > 0 and out["two_op_admission_us"] > 0
    assert len(out["saved_us_paired_range"]) == 2
