"""The async Redis clients side by side: redis-py's asyncio client against the store's own.

    python -m benchmarks.redis_client                # 5 rounds of 2,000 calls each
    python -m benchmarks.redis_client --rounds 9 --json

A call's store commands as ``AsyncRouter`` sends them for one call of
``benchmarks.async_stores`` (one route, a breaker, a per-tenant budget):
``MGET`` of the breaker, the budget reserve script, ``MGET`` again, ``SET`` of
the latency average, ``DEL``, the ``incr`` script, the budget commit script —
seven round trips, one after the other, by 64 tasks at once. The same
sequence runs through

- ``redis-py``: ``redis.asyncio`` over a ``BlockingConnectionPool`` of 64
  (what ``AsyncRedisStore`` used before 2026-12-05), and
- ``resp``: :class:`router.state.aio.resp_client.RespClient`, one
  multiplexed, auto-pipelined connection (what it uses now),

against a ``redis-server`` of its own, in one process, rounds alternating.
Reported per client: the median (and range) over rounds of this process's
CPU time per call and of calls per second, and their ratio. The server's own
CPU is not counted (it is the same work for both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IN_FLIGHT = 64
X, DASH = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"
PREFIX = "bench-client:"


class _Calls:
    """One call's seven commands on a client with redis-py's script shape."""

    def __init__(self, client: Any, kv: Callable[..., Awaitable[Any]]) -> None:
        from router.state import redis as layout

        self.kv = kv
        self.reserve = client.register_script(layout._RESERVE)
        self.commit = client.register_script(layout._COMMIT)
        self.incr = client.register_script(layout._INCR)

    async def one(self, i: int) -> None:
        now = time.time()
        brk = [f"{PREFIX}brk:open", f"{PREFIX}brk:tripped"]
        wk = [f"{PREFIX}bw:tenant", f"{PREFIX}bh:tenant"]
        rid = f"r{i}"
        await self.kv("MGET", *brk)
        args = [rid, "0.001", repr(now), repr(now + 60), "1e-9", "1000000", repr(now + 86400)]
        ok, _, _ = await self.reserve(keys=wk, args=args)
        assert ok == 1
        await self.kv("MGET", *brk)
        await self.kv("SET", f"{PREFIX}lat", "12.5", "PX", "600000")
        await self.kv("DEL", f"{PREFIX}brk:run")
        await self.incr(keys=[f"{PREFIX}brk:c"], args=["1.0", "60000"])
        await self.commit(
            keys=[*wk, f"{PREFIX}ledger"], args=[rid, "0.001", repr(now), "86400", "0", ""]
        )


async def _round(calls: _Calls, n: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for ``n`` calls, 64 in flight."""
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem:
            await calls.one(i)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.process_time() - c0, time.perf_counter() - t0


async def _measure(port: int, rounds: int, n: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from router.state.aio.redis_url import parse_redis_url
    from router.state.aio.resp_client import RespClient

    url = f"redis://127.0.0.1:{port}/0"
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=IN_FLIGHT, decode_responses=True
    )
    redispy = aioredis.Redis(connection_pool=pool)
    resp = RespClient(parse_redis_url(url))
    clients = {
        "redis-py": _Calls(redispy, redispy.execute_command),
        "resp": _Calls(resp, resp.execute),
    }
    for calls in clients.values():  # connect, load the scripts
        await _round(calls, IN_FLIGHT)
    out: dict[str, dict[str, list[float]]] = {k: {"cpu_us": [], "per_s": []} for k in clients}
    for _ in range(rounds):
        for name, calls in clients.items():
            cpu, wall = await _round(calls, n)
            out[name]["cpu_us"].append(cpu / n * 1e6)
            out[name]["per_s"].append(n / wall)
    await redispy.aclose(close_connection_pool=True)
    await resp.aclose()
    return {"rounds": rounds, "calls": n, "in_flight": IN_FLIGHT, "clients": out}


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}{DASH}{max(xs):,.0f})"


def render(results: dict[str, Any]) -> str:
    """A Markdown table of medians (ranges) and the ratio to redis-py."""
    c = results["clients"]
    base_cpu = statistics.median(c["redis-py"]["cpu_us"])
    base_rate = statistics.median(c["redis-py"]["per_s"])
    lines = [
        f"{results['rounds']} rounds of {results['calls']:,} calls, "
        f"{results['in_flight']} in flight, 7 commands per call; median (min{DASH}max).",
        "",
        "| client | CPU per call (µs) | calls/s | CPU vs redis-py | calls/s vs redis-py |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in c.items():
        cpu, rate = statistics.median(r["cpu_us"]), statistics.median(r["per_s"])
        lines.append(
            f"| {name} | {_spread(r['cpu_us'])} | {_spread(r['per_s'])} "
            f"| {cpu / base_cpu:.2f}{X} | {rate / base_rate:.2f}{X} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Start a redis-server, measure both clients, print the table (or JSON)."""
    from benchmarks.async_stores import _stop, start_redis

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000, help="calls per round and client")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench-redis-client-")
    proc, port = start_redis(tmp)
    try:
        results = asyncio.run(_measure(port, args.rounds, args.calls))
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(results, indent=2) if args.json else render(results),
        end="\n" if args.json else "",
    )


if __name__ == "__main__":
    main()
