"""One client's measurements, in a process of its own.

``python -m benchmarks.worker --client NAME --base-url URL ...`` runs, in
order: sequential non-streaming requests, sequential streams, then async
throughput at a fixed concurrency, and prints one JSON object on stdout.
Per-request wall time is ``perf_counter``; CPU time is this process's CPU
(``process_time``), which is the client's own cost since the server runs in
another process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from .clients import ASYNC_ONLY, CLIENTS
from .fake_server import pin

__all__ = ["main", "percentile"]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def _summary(wall: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "n": len(wall),
        "wall_p50_us": percentile(wall, 50),
        "wall_p99_us": percentile(wall, 99),
        "cpu_p50_us": percentile(cpu, 50),
        "cpu_p99_us": percentile(cpu, 99),
        "cpu_mean_us": sum(cpu) / len(cpu) if cpu else float("nan"),
    }


def sequential(fn: Callable[[], Any], n: int, warmup: int) -> dict[str, float]:
    """Time ``n`` calls of ``fn`` one after another (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        fn()
    wall: list[float] = []
    cpu: list[float] = []
    pc, pt = time.perf_counter_ns, time.process_time_ns
    for _ in range(n):
        w0, c0 = pc(), pt()
        fn()
        c1, w1 = pt(), pc()
        wall.append((w1 - w0) / 1000)
        cpu.append((c1 - c0) / 1000)
    return _summary(wall, cpu)


async def throughput(acall: Any, n: int, concurrency: int, warmup: int) -> dict[str, float]:
    """Requests per second for ``n`` calls with ``concurrency`` in flight."""
    await asyncio.gather(*(acall() for _ in range(min(warmup, n))))
    left = n
    errors = 0

    async def worker() -> None:
        nonlocal left, errors
        while left > 0:
            left -= 1
            try:
                await acall()
            except Exception:
                errors += 1

    w0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {
        "n": n,
        "concurrency": concurrency,
        "errors": errors,
        "req_per_s": n / wall,
        "cpu_per_req_us": cpu / n * 1e6,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement the arguments ask for, as a JSON-ready dict."""
    client = CLIENTS[args.client](args.base_url)
    out: dict[str, Any] = {"client": args.client}
    if args.client not in ASYNC_ONLY and (args.requests or args.streams):
        call, stream, close = client.sync()
        # Correctness before speed: a client that gets the wrong answer is no result.
        if not call():
            raise RuntimeError(f"{args.client}: empty completion")
        if args.requests:
            out["seq"] = sequential(call, args.requests, args.warmup)
        if args.streams:
            events = stream()
            out["stream_events"] = events
            out["stream"] = sequential(stream, args.streams, max(1, args.warmup // 4))
        close()
    if args.async_requests:

        async def go() -> dict[str, float]:
            acall, aclose = client.async_()
            try:
                return await throughput(
                    acall, args.async_requests, args.concurrency, args.concurrency
                )
            finally:
                await aclose()

        out["async"] = asyncio.run(go())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--client", required=True, choices=sorted(CLIENTS))
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--async-requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)
    pin(args.cpu)
    json.dump(run(args), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    # LiteLLM leaves non-daemon threads and loggers behind; do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    main()
