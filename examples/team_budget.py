"""Give a team $20 a day and watch it hold under concurrent load.

Starts a stand-in for a paid frontier API on 127.0.0.1 (it answers like an
OpenAI-compatible server and reports usage; no real provider is contacted),
then runs 3 processes x 4 threads of the team's traffic through the real
router sharing one ledger, and prints where the money went.

    python examples/team_budget.py                      # SQLite ledger in a temp dir
    python examples/team_budget.py --state "redis://127.0.0.1:6379/0?prefix=demo:"
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BUDGET_USD = 20.0
TEAM = "search-team"


class FakePaidAPI(BaseHTTPRequestHandler):
    """Answers chat completions with usage, like a paid API would bill."""

    def log_message(self, *a: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = sum(len(m.get("content") or "") for m in body["messages"]) // 4 + 5
        completion = random.randint(200, body.get("max_tokens") or 1000)
        time.sleep(random.uniform(0.005, 0.03))
        data = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "…"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def config(base_url: str, state: str) -> dict[str, Any]:
    return {
        "providers": {
            "frontier": {"kind": "openai_compatible", "base_url": base_url, "zone": "frontier"},
            "gpu-box": {"kind": "openai_compatible", "base_url": base_url, "zone": "local"},
        },
        "models": {
            # USD per million tokens, like a top-tier frontier model.
            "frontier-large": {
                "provider": "frontier",
                "model": "large",
                "price": {"input": 15, "output": 75},
            },
            # A self-hosted 70B on one GPU: only used by the shift report here.
            "llama-70b-local": {
                "provider": "gpu-box",
                "model": "llama-70b",
                "cost": {"gpu_hour_usd": 4.0, "tokens_per_second": 2500},
            },
        },
        "rules": [
            {
                "name": "team-daily",
                "budget": {
                    "usd": BUDGET_USD,
                    "per": "day",
                    "key": "tenant",
                    "on_exhausted": "deny",
                },
            },
        ],
        "routes": {"default": {"candidates": ["frontier-large"], "max_tokens": 1000}},
        "state": state,
    }


def worker(cfg: dict[str, Any], threads: int, out: Any) -> None:
    from router import Router
    from router.errors import BudgetExceeded

    counts = {"ok": 0, "denied": 0}
    lock = threading.Lock()
    prompt = [{"role": "user", "content": "Summarise this support ticket for me. " * 20}]

    with Router.from_dict(cfg) as router:

        def run() -> None:
            denied_in_a_row = 0
            while denied_in_a_row < 5:
                try:
                    router.chat(prompt, context={"tenant": TEAM, "user": "bot"})
                    denied_in_a_row, key = 0, "ok"
                except BudgetExceeded:
                    denied_in_a_row, key = denied_in_a_row + 1, "denied"
                with lock:
                    counts[key] += 1

        pool = [threading.Thread(target=run) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    out.put(counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", help="state URL (default: a SQLite file in a temp dir)")
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePaidAPI)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    tmp = Path(tempfile.mkdtemp(prefix="team-budget-"))
    state = args.state or f"sqlite://{tmp / 'state.db'}"
    cfg = config(base_url, state)

    print(f"budget: ${BUDGET_USD:.2f}/day for tenant {TEAM!r}; ledger: {state}")
    print(f"load: {args.processes} processes x {args.threads} threads, until each is refused")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(cfg, args.threads, out)) for _ in range(args.processes)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit("a worker process failed (see its traceback above)")
    results = [out.get(timeout=10) for _ in procs]
    elapsed = time.perf_counter() - t0
    server.shutdown()

    from router.accounting import read_ledger
    from router.state import open_store

    store = open_store(state)
    records = [r for r in read_ledger(store) if r.tenant == TEAM]
    spent = sum(r.cost_usd for r in records)
    ok = sum(r["ok"] for r in results)
    denied = sum(r["denied"] for r in results)
    print(f"\n{ok} requests admitted, {denied} refused in {elapsed:.1f}s")
    print(
        f"spent ${spent:.4f} of ${BUDGET_USD:.2f} "
        f"({'HELD' if spent <= BUDGET_USD else 'OVERRUN'}: "
        f"${BUDGET_USD - spent:.4f} left, less than one request's worst case)"
    )
    store.close()

    cfg_path = tmp / "router.json"
    cfg_path.write_text(json.dumps(cfg))
    from router.cli import main as cli

    print()
    cli(["report", "--config", str(cfg_path), "--by", "tenant,model,zone,day"])


if __name__ == "__main__":
    main()
