"""The benchmark harness runs end to end and writes a well-formed report.

Smoke mode only (a handful of requests, raw httpx and this router), and no
timing thresholds: speed is what ``benchmarks/run.py`` reports, not what a unit
test asserts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
X = "\N{MULTIPLICATION SIGN}"


def _rows(md: str, header_start: str) -> list[list[str]]:
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    return table


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/run.py",
            "--smoke",
            "--clients",
            "httpx,router",
            "--out-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, (out / "latest.md").read_text(encoding="utf-8")


def test_writes_latest_timestamped_and_json(report: tuple[Path, str]) -> None:
    out, md = report
    stamped = [p for p in out.glob("*-smoke.md")]
    assert len(stamped) == 1
    assert stamped[0].read_text(encoding="utf-8") == md
    data = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    assert data["mode"] == "smoke"
    assert set(data["clients"]) == {"httpx", "router"}
    for name in ("httpx", "router"):
        row = data["clients"][name]
        assert "error" not in row, row
        assert row["seq"]["n"] == 5 and row["stream"]["n"] == 3
        assert row["async"]["errors"] == 0
    for name in ("httpx", "router"):
        assert [len(v) for v in data["clients"][name]["round_p50s"].values()] == [1, 1]
    assert "Router ÷ raw httpx CPU p50 in each round" in md
    # 20 content chunks plus the usage chunk (then [DONE]).
    assert data["stream_events"] == 21
    assert data["policy"]["targets"] == 20 and data["policy"]["rules"] == 30


def test_report_names_the_machine(report: tuple[Path, str]) -> None:
    _, md = report
    assert md.startswith("# Benchmark")
    assert "cores" in md and "CPython" in md


def test_results_table_is_well_formed(report: tuple[Path, str]) -> None:
    _, md = report
    table = _rows(md, "| client |")
    header, sep, body = table[0], table[1], table[2:]
    assert all(set(c) <= set("-:") for c in sep) and len(sep) == len(header)
    assert [r[0] for r in body] == ["`httpx`", "`router`"]
    for row in body:
        assert len(row) == len(header)
    ratios = {r[0]: r[header.index(f"CPU {X} httpx")] for r in body}
    assert ratios["`httpx`"] == f"1.00{X}"
    assert ratios["`router`"].endswith(X) and float(ratios["`router`"][:-1]) > 0


def test_targets_section_gives_a_verdict_per_target(report: tuple[Path, str]) -> None:
    _, md = report
    table = _rows(md, "| target |")
    body = table[2:]
    assert len(body) >= 7
    for target, _measured, verdict in body:
        assert verdict in {"met", "**not met**", "—"}, (target, verdict)
    assert any("policy decision" in r[0] for r in body)


def test_rounds_merge_to_medians_with_counts_summed() -> None:
    from benchmarks.run import merge_rounds

    rounds = [
        {"client": "x", "seq": {"n": 10, "cpu_p50_us": v}, "async": {"errors": 1, "req_per_s": r}}
        for v, r in ((300.0, 900.0), (100.0, 1000.0), (200.0, 50.0))
    ]
    merged = merge_rounds(rounds)
    assert merged["client"] == "x" and merged["rounds"] == 3
    assert merged["seq"] == {"n": 30, "cpu_p50_us": 200.0}
    assert merged["async"] == {"errors": 3, "req_per_s": 900.0}


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instruction_counter_counts_the_work_a_program_does() -> None:
    from benchmarks.instructions import count

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    idle = count(["-c", "pass"], env)
    busy = count(["-c", "sum(range(300_000))"], env)
    # A loop of 300,000 additions runs millions of instructions more than nothing.
    assert idle > 1_000_000
    assert busy - idle > 3_000_000


def test_report_gives_instruction_ratios_when_counted(report: tuple[Path, str]) -> None:
    from benchmarks.run import render

    out, _ = report
    data = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    data["instructions"] = {
        "n": 200,
        "call": {"httpx": 2_000_000.0, "router": 2_100_000.0, "ratio": 1.05},
        "stream": {"httpx": 4_000_000.0, "router": 4_400_000.0, "ratio": 1.1},
        "startup": {"httpx": 400e6, "router": 900e6, "ratio": 2.25},
    }
    md = render(data)
    assert f"request 2,100,000 vs 2,000,000 (**1.05{X}**)" in md
    assert f"start-up 900M vs 400M (**2.25{X}**)" in md
    data["instructions"] = {"error": "RuntimeError: valgrind is not installed"}
    assert "instruction count failed: RuntimeError: valgrind is not installed" in render(data)
