"""Move a route from a paid API to a self-hosted model over two weeks, behind a guard.

Runs entirely on 127.0.0.1: two tiny OpenAI-compatible servers stand in for
the paid API and the self-hosted box. Simulated time walks through a
14-day ramp (0% → 100% self-hosted); each simulated day sends traffic from
400 users and prints the evidence: the share each arm served, its error
rate, the spend against an all-paid baseline, and the shadow comparison.
On day 9 the self-hosted box starts failing: the guard rolls it back to 0%
on its own; an operator fixes it and resumes, and the ramp carries on.

    python examples/migrate_to_self_hosted.py
    python examples/migrate_to_self_hosted.py --html out/   # + HTML spend and migration reports

With ``--html DIR`` the router keeps its state (ledger, guard, shadow
aggregates) in ``DIR/state.db`` and its shadow pairs in ``DIR/shadow.jsonl``,
writes ``DIR/router.yaml``, and at the end runs ``llm-router report --html``
and ``llm-router migration report --html`` on them.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from router import Router
from router.migration import arm_weights, guard_status, resume, summarise_store, tripped_arms

DAY = 86400.0
START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
USERS = 400


class Box:
    """A local OpenAI-compatible server; ``fail_ratio`` injects HTTP 500s."""

    def __init__(self, reply: str) -> None:
        self.reply, self.fail_ratio, self.rng = reply, 0.0, random.Random(7)
        box = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if box.rng.random() < box.fail_ratio:
                    self._send(500, {"error": {"message": "CUDA error", "type": "server_error"}})
                    return
                words = len(box.reply.split())
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": box.reply},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 400,
                            "completion_tokens": 40 + words,
                            "total_tokens": 440 + words,
                        },
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def config(paid: Box, local: Box) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"kind": "vllm", "base_url": paid.url, "zone": "frontier"},
            "gpu-box": {"kind": "vllm", "base_url": local.url, "zone": "local"},
        },
        "models": {
            "gpt": {
                "provider": "openai",
                "model": "gpt-4.1",
                "price": {"input": 2.0, "output": 8.0},
            },
            "llama-local": {
                "provider": "gpu-box",
                "model": "llama-3.3-70b",
                # What the GPU box costs: the break-even chart prices the paid traffic on it.
                "cost": {"gpu_hour_usd": 2.0, "tokens_per_second": 1500},
            },
        },
        "routes": {
            "support-bot": {
                "split": [{"model": "llama-local", "weight": 0}, {"model": "gpt", "weight": 100}],
                "sticky_by": "user",
                "ramp": {
                    "model": "llama-local",
                    "from_pct": 0,
                    "to_pct": 100,
                    "start": "2026-12-01",
                    "end": "2026-12-15",
                },
                "guard": {
                    "model": "llama-local",
                    "baseline": "gpt",
                    "metric": "error_rate",
                    "max_ratio": 3,
                    "window_s": 3600,
                    "min_samples": 30,
                },
                "shadow": {"model": "llama-local", "sample_pct": 20, "max_concurrency": 4},
            }
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--html", type=Path, metavar="DIR", help="write HTML reports into DIR")
    args = ap.parse_args()
    logging.basicConfig(format="      log: %(name)s: %(message)s", stream=sys.stdout)
    paid = Box("Your order ships tomorrow; you will get a tracking link by email.")
    local = Box("Your order ships tomorrow and a tracking link will be emailed to you.")
    now = START - DAY
    cfg = config(paid, local)
    if args.html is not None:
        args.html.mkdir(parents=True, exist_ok=True)
        (args.html / "state.db").unlink(missing_ok=True)
        (args.html / "shadow.jsonl").unlink(missing_ok=True)
        cfg["state"] = f"sqlite:///{(args.html / 'state.db').resolve()}"
        cfg["routes"]["support-bot"]["shadow"]["log"] = str((args.html / "shadow.jsonl").resolve())
        (args.html / "router.yaml").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    # Simulated time: the router reads its clock for ramps and guard windows;
    # production leaves it on the wall clock.
    router = Router(cfg, clock=lambda: now)
    route = router.config.routes["support-bot"]
    ask = [{"role": "user", "content": "Where is my order #1234?"}]
    print(
        f"{'day':>4} {'scheduled':>9} {'served':>7} {'local err':>9} {'spend':>9} "
        f"{'all-paid':>9}  guard"
    )
    for day in range(-1, 16):
        now = START + day * DAY + 12 * 3600
        if day == 9:
            local.fail_ratio = 0.5  # a bad driver update on the GPU box
        if day == 10:
            local.fail_ratio = 0.0  # fixed; the operator re-arms the arm
            resume(router.store, "support-bot", "llama-local", now)
            print("      operator: llm-router migration resume router.yaml --route support-bot")
        served = errors = tries = 0
        spend = all_paid = 0.0
        for u in range(USERS):
            resp = router.chat(ask, model="support-bot", context={"user": f"user-{u}"})
            assert resp.route is not None and resp.usage is not None
            served += resp.route.target == "llama-local"
            local_tries = [a for a in resp.route.attempts if a.target == "llama-local"]
            tries += len(local_tries)
            errors += sum(a.outcome != "ok" for a in local_tries)
            spend += resp.route.cost_usd
            all_paid += (resp.usage.prompt_tokens * 2.0 + resp.usage.completion_tokens * 8.0) / 1e6
        sched = arm_weights(route, now)["llama-local"]
        err = f"{errors / tries:.0%}" if tries else "-"
        tripped = tripped_arms(router.store, "support-bot", route)
        state = "ROLLED BACK: " + tripped["llama-local"][:60] + "…" if tripped else "armed"
        print(
            f"{day:>4} {sched:>8.1f}% {served / USERS:>6.0%} {err:>9} ${spend:>8.4f} "
            f"${all_paid:>8.4f}  {state}"
        )
    router.close()  # waits for the shadows in flight
    print()
    print(guard_status(router.store, "support-bot", route, now).describe())
    s = summarise_store(router.store, "support-bot", "llama-local")
    print(
        f"shadow evidence: {s['pairs']} pairs, exact match {s.get('exact_match_pct', 0):.0f}%, "
        f"mean similarity {s.get('mean_similarity', 0):.2f}, "
        f"shadow cost ${s.get('shadow_cost_usd', 0):.4f} vs primary "
        f"${s.get('primary_cost_usd', 0):.4f}; {s['skipped_same_target']} requests already "
        f"on the self-hosted arm, {s['dropped']} dropped"
    )
    if args.html is not None:
        from router.cli import main as cli

        conf = str(args.html / "router.yaml")
        cli(["report", "--config", conf, "--html", str(args.html / "report.html")])
        cli(["migration", "report", conf, "--html", str(args.html / "migration.html")])
        print(f"HTML reports: {args.html / 'report.html'}, {args.html / 'migration.html'}")


if __name__ == "__main__":
    main()
