"""Smoke test of benchmarks/redaction.py: both routers run, both measurements are reported
(no timing threshold: speed is what the benchmark reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("detectors", ["email,phone", "email"])
def test_the_benchmark_reports_the_added_cpu(detectors: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.redaction", "--calls", "3", "--rounds", "1",
         "--detectors", detectors, "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert set(report) == {"chat", "decide"}
    for r in report.values():
        cpu = r["cpu_us"]
        assert cpu["plain"] > 0 and cpu["redact"] > 0
        assert r["added_us"] == pytest.approx(cpu["redact"] - cpu["plain"])


def test_the_message_is_two_kilobytes_with_five_spans() -> None:
    from benchmarks.redaction import MESSAGE_BYTES, message

    text = message(12345)
    assert len(text.encode()) == MESSAGE_BYTES == 2048
    assert text.count("@") == 3 and "+14155552345" in text and "+49301234565" in text
