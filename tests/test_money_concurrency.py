"""The concurrency proof: processes x threads spend one small budget through the real router.

Guarantee under test (see docs/money.md): a window's committed spend never
exceeds its budget by more than the sum of ``excess_usd`` over the requests
committed to it, where excess is the part of a request's actual cost above
its live hold. A target that honours ``max_tokens`` and bills no more input
tokens than the UTF-8 bound causes no excess, so spend stays within budget;
every hold is committed or released when the calls end.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from router.accounting import read_ledger, window, window_label
from router.state import open_store
from tests.money_helpers import FakeProvider, money_config

pytest_plugins = ["tests.money_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "money_worker.py"
PROCESSES, THREADS, CALLS = 3, 4, 12
LIMIT = 1.0
RESERVE = 0.038  # per call: 18 input tokens (bound) * $1000/M + 10 output * $2000/M


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _run_workers(config: dict[str, Any], tmp_path: Path, tenant: str) -> list[dict[str, Any]]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(path), str(THREADS), str(CALLS), tenant],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=ROOT,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("server", ["honest", "ignores-max-tokens"])
def test_budget_holds_under_processes_and_threads(
    shared_state_url: str, tmp_path: Path, server: str, record_property: Any
) -> None:
    fp = FakeProvider()
    rng = random.Random(7)
    fp.delay_s = 0.01
    if server == "honest":
        fp.completion = lambda m: rng.randint(1, m)
    else:  # bills 10 more output tokens than asked for: each call exceeds its hold
        fp.completion = lambda m: m + 10
    rule = {
        "name": "team-daily",
        "budget": {"usd": LIMIT, "per": "day", "key": "tenant", "on_exhausted": "deny"},
    }
    config = money_config(fp.base_url, state=shared_state_url, rules=[rule])
    tenant = "team-" + os.urandom(4).hex()
    try:
        results = _run_workers(config, tmp_path, tenant)
    finally:
        fp.close()
    assert all(r["errors"] == [] for r in results), results
    ok = sum(r["ok"] for r in results)
    denied = sum(r["denied"] for r in results)
    assert ok + denied == PROCESSES * THREADS * CALLS
    assert denied > 0, "the budget was never exhausted: the test proves nothing"

    store = open_store(shared_state_url)
    try:
        records = [r for r in read_ledger(store) if r.tenant == tenant]
        now = time.time()
        start, _ = window("day", now)
        key = f"team-daily|tenant={tenant}|day|{window_label('day', start)}"
        usage = store.budget_usage(key, now=now)
    finally:
        store.close()
    assert len(records) == ok == fp.requests
    spent = sum(r.cost_usd for r in records)
    excess = sum(r.excess_usd for r in records)
    # The window's counter and the ledger agree, and nothing is still held.
    assert usage.spent_usd == pytest.approx(spent)
    assert usage.holds == 0 and usage.held_usd == 0
    # The guaranteed bound.
    assert spent <= LIMIT + excess + 1e-9
    if server == "honest":
        assert excess == 0
        assert spent <= LIMIT
    else:
        assert excess > 0
    overshoot = spent - LIMIT
    summary = (
        f"[{shared_state_url.split(':')[0]}/{server}] {PROCESSES}x{THREADS} workers: "
        f"{ok} admitted, {denied} denied; spent ${spent:.4f} of ${LIMIT:.2f} "
        f"(overshoot {overshoot:+.4f}, bound allows {excess:+.4f}); holds left {usage.holds}"
    )
    record_property("money_summary", summary)
    print(summary)


def test_crashed_process_hold_expires(shared_state_url: str) -> None:
    key = "crash-test|tenant=x|day|2027-01-01"
    out = subprocess.run(
        [sys.executable, str(WORKER), "--crash", shared_state_url, key, "1.0", "0.9"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == {"ok": True}
    store = open_store(shared_state_url)
    try:
        now = time.time()
        assert store.budget_usage(key, now=now).holds == 1  # the dead process still holds
        later = now + 1.5  # past the 1 s hold
        assert store.budget_usage(key, now=later).holds == 0
        from router.state import BudgetCharge

        res = store.budget_reserve(
            "next", [BudgetCharge(key, 1.0, later + 60)], 0.9, now=later, hold_s=10
        )
        assert res.ok
    finally:
        store.close()
