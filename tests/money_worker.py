"""A worker process for the concurrency proof: several threads spend through one Router.

Usage: python tests/money_worker.py CONFIG_JSON THREADS CALLS TENANT
Prints one JSON line: {"ok": n, "denied": n, "errors": [...]}.

Or: python tests/money_worker.py --crash STATE_URL KEY LIMIT AMOUNT
reserves AMOUNT on budget window KEY and dies without releasing it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def spend(config_path: str, threads: int, calls: int, tenant: str) -> None:
    from router import Router
    from router.errors import BudgetExceeded

    with open(config_path) as f:
        config = json.load(f)
    counts = {"ok": 0, "denied": 0}
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)
    with Router.from_dict(config) as router:

        def work() -> None:
            start.wait()
            for _ in range(calls):
                try:
                    router.chat([{"role": "user", "content": "hi"}], context={"tenant": tenant})
                    outcome = "ok"
                except BudgetExceeded:
                    outcome = "denied"
                except Exception as e:  # reported, and the test fails on it
                    with lock:
                        errors.append(repr(e))
                    continue
                with lock:
                    counts[outcome] += 1

        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    print(json.dumps({**counts, "errors": errors}))


def crash(state: str, key: str, limit: float, amount: float) -> None:
    from router.state import BudgetCharge, open_store

    store = open_store(state)
    now = time.time()
    res = store.budget_reserve(
        "crashed-" + str(os.getpid()),
        [BudgetCharge(key, limit, now + 3600)],
        amount,
        now=now,
        hold_s=1.0,
    )
    print(json.dumps({"ok": res.ok}), flush=True)
    os._exit(0)  # no release, no close: a crash


if __name__ == "__main__":
    if sys.argv[1] == "--crash":
        crash(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        spend(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
