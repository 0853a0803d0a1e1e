"""What a response-cache hit costs, against a miss and against a raw httpx call.

    python -m benchmarks.cache                   # 2000 calls per case
    python -m benchmarks.cache --calls 500 --json

One fake OpenAI-compatible server (``benchmarks/fake_server.py``) runs in its
own process, so the CPU time measured here (``time.process_time``, this
process only) is the client's. In one run, per state store (``memory``, and a
SQLite file), each case makes ``--calls`` sync calls after a warm-up:

- ``httpx``: ``httpx.Client.post`` of the same body, the JSON reply parsed
  (the baseline: what any client pays);
- ``router, no cache``: the same route without ``cache:``, a new question
  each call;
- ``cache miss``: a route with ``cache:``, every call a new question (a
  lookup, the send, then the entry written and the ring advanced);
- ``cache hit``: the same route, one question asked again (a lookup; nothing
  sent; a ledger record);
- ``stream hit``: the same, as a stream read to its end (the chunks replayed).

It reports CPU microseconds per call and wall-clock calls per second, and the
ratios: hit / miss, hit / httpx, miss / no cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.async_stores import _spawn_with_port, _stop  # noqa: E402

X = "\N{MULTIPLICATION SIGN}"
SYSTEM = {"role": "system", "content": "You are a concise customer-support assistant."}
QUESTION = {"role": "user", "content": "When will order 58213 ship?"}
CONTEXT = {"tenant": "acme", "user": "u-1042"}


def config(base_url: str, state: str, *, cache: bool) -> dict[str, Any]:
    """One priced model behind one route, with or without the response cache."""
    route: dict[str, Any] = {"candidates": ["gpt"]}
    if cache:
        route["cache"] = {"ttl_s": 3600, "max_entries": 1_000_000}
    return {
        "providers": {
            "fake": {"kind": "openai_compatible", "base_url": base_url, "api_key": "sk-bench"}
        },
        "models": {
            "gpt": {"provider": "fake", "model": "bench-model", "price": {"input": 1, "output": 2}}
        },
        "routes": {"support": route},
        "state": state,
        "telemetry": {"enabled": False},
    }


def _time(n: int, call: Callable[[int], object]) -> dict[str, float]:
    for i in range(min(50, n)):  # warm-up: pools, lazy imports, caches
        call(-1 - i)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        call(i)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_us": cpu / n * 1e6, "per_s": n / wall}


def measure(base_url: str, state: str, calls: int) -> dict[str, dict[str, float]]:
    """CPU per call and calls per second of each case, on ``state``."""
    import httpx

    from router import Router

    out: dict[str, dict[str, float]] = {}
    body = {"model": "bench-model", "messages": [SYSTEM, QUESTION], "temperature": 0}
    with httpx.Client(base_url=base_url) as client:

        def raw(i: int) -> object:
            r = client.post("/chat/completions", json=body)
            return r.json()

        out["httpx"] = _time(calls, raw)

    def fresh(i: int) -> list[dict[str, str]]:
        # A new question each call, in both cases: no memo of the policy's helps either.
        return [SYSTEM, {"role": "user", "content": f"When will order {i + 100_000} ship?"}]

    with Router(config(base_url, state, cache=False)) as r:
        out["router, no cache"] = _time(
            calls, lambda i: r.chat(fresh(i), model="support", temperature=0, context=CONTEXT)
        )
    with Router(config(base_url, state, cache=True)) as r:

        def miss(i: int) -> object:
            reply = r.chat(fresh(i + calls), model="support", temperature=0, context=CONTEXT)
            assert reply.route is not None and reply.route.cache == "miss"
            return reply

        def hit(i: int) -> object:
            reply = r.chat([SYSTEM, QUESTION], model="support", temperature=0, context=CONTEXT)
            assert reply.route is not None and reply.route.cache in ("hit", "miss")
            return reply

        def stream_hit(i: int) -> object:
            with r.stream([SYSTEM, QUESTION], model="support", temperature=0, context=CONTEXT) as s:
                for _ in s:
                    pass
            assert s.response.route is not None and s.response.route.cache == "hit"
            return s.response

        out["cache miss"] = _time(calls, miss)
        out["cache hit"] = _time(calls, hit)
        out["stream hit"] = _time(calls, stream_hit)
    return out


def run_all(calls: int) -> dict[str, Any]:
    """Every store's cases, against one fake server started here."""
    server, port = _spawn_with_port(
        [sys.executable, "-m", "benchmarks.fake_server", "--port", "0"], "fake server"
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    results: dict[str, Any] = {"calls": calls, "stores": {}}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, state in (("memory", "memory"), ("sqlite", f"sqlite:///{tmp}/state.db")):
                results["stores"][name] = measure(base_url, state, calls)
    finally:
        _stop(server)
    for cases in results["stores"].values():
        hit, miss = cases["cache hit"]["cpu_us"], cases["cache miss"]["cpu_us"]
        cases["ratios"] = {
            "hit / miss": hit / miss,
            "hit / httpx": hit / cases["httpx"]["cpu_us"],
            "miss / no cache": miss / cases["router, no cache"]["cpu_us"],
            "stream hit / hit": cases["stream hit"]["cpu_us"] / hit,
        }
    return results


def render(results: dict[str, Any]) -> str:
    """A Markdown report of :func:`run_all`'s results."""
    lines = [
        f"Response cache: CPU per call (this process), {results['calls']} calls per case",
        "",
        "| store | case | CPU µs/call | calls/s |",
        "|---|---|---:|---:|",
    ]
    for store, cases in results["stores"].items():
        for case, m in cases.items():
            if case != "ratios":
                lines.append(f"| {store} | {case} | {m['cpu_us']:.0f} | {m['per_s']:.0f} |")
    lines += ["", "| store | ratio | value |", "|---|---|---:|"]
    for store, cases in results["stores"].items():
        for name, v in cases["ratios"].items():
            lines.append(f"| {store} | {name} | {v:.2f}{X} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run and print the report (``--json``: the raw numbers)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    results = run_all(args.calls)
    print(json.dumps(results, indent=2) if args.json else render(results))


if __name__ == "__main__":
    main()
