"""The fresh-venv start-up benchmark: its parsing, its ratios and its place in the report.

Building the venv itself needs pip and the network, so it is left to
``python -m benchmarks.startup_venv``; here the measuring runs in this
interpreter, once, to check the harness, not the speed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks import startup_venv
from benchmarks.run import render

ROOT = Path(__file__).resolve().parent.parent
X = "\N{MULTIPLICATION SIGN}"

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       145 |        145 |   _io
import time:      2000 |       2500 |     pydantic
import time:       300 |       2800 |   router
import time:         5 |          5 |   pydantic
"""


def test_importtime_lines_parse_to_self_and_cumulative() -> None:
    parsed = startup_venv.parse_importtime(IMPORTTIME + "something else\n")
    # The header is skipped; a module listed twice keeps its first (real) import.
    assert parsed == {"_io": (145, 145), "pydantic": (2000, 2500), "router": (300, 2800)}


def _medians(p: float, h: float, r: float, m: float) -> dict[str, Any]:
    return {
        n: {"wall_s": v, "cpu_s": v / 2, "wall_min_s": v}
        for n, v in (("pass", p), ("httpx", h), ("router", r), ("pydantic", m))
    }


def test_ratios_subtract_the_interpreters_own_start() -> None:
    out = startup_venv.ratios(_medians(0.010, 0.080, 0.150, 0.120))
    assert round(out["httpx_net_wall_s"] or 0, 6) == 0.070
    assert round(out["router_net_wall_s"] or 0, 6) == 0.140
    assert round(out["ratio_wall"] or 0, 6) == 2.0
    assert round(out["ratio_pydantic_wall"] or 0, 6) == round(0.110 / 0.070, 6)
    assert round(out["ratio_cpu"] or 0, 6) == 2.0


def test_measure_runs_every_statement_interleaved() -> None:
    m = startup_venv.measure(Path(sys.executable), runs=1, cwd=ROOT)
    assert m["runs"] == 1
    for name in startup_venv.STATEMENTS:
        assert m[name]["wall_s"] > 0 and m[name]["cpu_s"] >= 0
    assert m["ratio_wall"] is not None and m["ratio_wall"] > 0


def _fresh_venv_result() -> dict[str, Any]:
    r: dict[str, Any] = {
        "python": "3.11.7",
        "versions": {"httpx": "0.29.0", "pydantic": "2.14.4"},
        "runs": 40,
        **_medians(0.010, 0.080, 0.150, 0.120),
        "importtime": {
            "top_self_us": [["router.config.schema", 9000, 40000]],
            "top_cumulative_us": [],
            "modules_loaded": 250,
            "router_modules": ["router", "router.client"],
            "top_packages": {},
            "import_s": 0.12,
            "construct_s": 0.01,
        },
        "instructions": {
            "counts": {},
            "net": {"httpx": 300e6, "router": 600e6, "pydantic": 520e6},
            "ratio": 2.0,
            "ratio_pydantic": 520 / 300,
        },
    }
    r.update(startup_venv.ratios(r))
    return r


def _report(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "started": "2026-12-01 00:00 UTC",
        "mode": "quick",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "python": "3.11.7",
            "implementation": "CPython",
            "platform": "Linux",
            "versions": {},
            "loadavg_1m": 0.5,
        },
        "pinning": "none",
        "settings": {
            "requests": 1,
            "streams": 1,
            "async_requests": 1,
            "concurrency": 1,
            "import_runs": 1,
        },
        "clients": {"httpx": {"startup": {"wall_s": 0.1, "cpu_s": 0.1, "rss_mb": 20.0}}},
        **extra,
    }


def _target_row(md: str, start: str) -> list[str]:
    line = next(li for li in md.splitlines() if li.startswith(f"| {start}"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_report_judges_start_up_on_the_fresh_venv() -> None:
    md = render(_report({"startup_venv": _fresh_venv_result()}))
    assert "## Start-up in a fresh venv" in md
    assert f"router 140.0 ms: **2.00{X}**" in md
    assert "`router.config.schema` 9,000/40,000" in md
    row = _target_row(md, "start-up in a fresh venv (")
    assert row[1:] == [f"2.00{X}", "met"]
    assert _target_row(md, "start-up in a fresh venv, instructions")[1:] == [f"2.00{X}", "met"]
    # The interpreter's own figure stays, labelled and not judged.
    assert _target_row(md, "start-up in this interpreter")[2] == "—"


def test_report_without_the_fresh_venv_says_why() -> None:
    md = render(_report({"startup_venv": {"error": "RuntimeError: no network"}}))
    assert "fresh-venv start-up failed: RuntimeError: no network" in md
    assert _target_row(md, "start-up in a fresh venv (")[1:] == ["—", "—"]
