"""Smoke test of benchmarks/embeddings.py: it runs both callers and reports a ratio per
workload (no timing threshold: speed is what the benchmark reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_reports_both_workloads() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.embeddings", "--calls", "3", "--rounds", "1",
         "--batch", "4", "--dim", "8", "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert set(report) == {"repeated", "fresh"}
    for r in report.values():
        assert r["cpu_us"]["httpx"] > 0 and r["cpu_us"]["router"] > 0
        assert r["ratio"] == pytest.approx(r["cpu_us"]["router"] / r["cpu_us"]["httpx"])
