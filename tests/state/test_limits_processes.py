"""A limit is never exceeded by several processes sharing SQLite or Redis.

Three processes of four threads each acquire against one ``rpm``, ``tpm`` and
``max_in_flight`` at once, releasing their in-flight slots as they go; the
admitted total is exactly what the tightest window holds, never more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, TRIES = 3, 4, 30
NOW = 1_800_000_000.0

WORKER = """
import json, sys, threading
from router.state import open_store
from router.state.base import LimitCharge

url, threads, tries, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
store = open_store(url, resilient=False)
charges = [
    LimitCharge("rpm", 50, 1.0, 60.0),
    LimitCharge("tpm", 10_000, 100.0, 60.0),
    LimitCharge("slots", 5),
]
ok, lock = [0], threading.Lock()

def one(t: int) -> None:
    for i in range(tries):
        ticket = f"{threading.get_native_id()}-{t}-{i}"
        if store.limit_acquire(ticket, charges, now=now, hold_s=60).ok:
            with lock:
                ok[0] += 1
            store.limit_release(ticket, ["slots"])

ts = [threading.Thread(target=one, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(ok[0]))
"""


def _admitted(url: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(THREADS), str(TRIES), repr(NOW)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(PROCESSES)
    ]
    total = 0
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        total += int(json.loads(out.strip().splitlines()[-1]))
    return total


def test_processes_sharing_sqlite_never_exceed_a_limit(tmp_path: Path) -> None:
    # 360 tries, 50 a minute: exactly 50, however the processes interleave.
    assert _admitted(f"sqlite:///{tmp_path / 'state.db'}") == 50


@pytest.mark.redis
def test_processes_sharing_redis_never_exceed_a_limit(redis_url: str) -> None:
    assert _admitted(redis_url) == 50
