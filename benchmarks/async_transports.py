"""AsyncRouter over httpx's own pool against the aiohttp transport, by concurrency.

    python -m benchmarks.async_transports                    # 1, 8 and 64 in flight
    python -m benchmarks.async_transports --calls 2000 --json

The evidence behind ``AsyncRouter``'s default transport (docs/performance.md,
"Which transport by default"). One fake OpenAI-compatible server
(``benchmarks/fake_server.py``) runs in its own process; this process holds
two routers over the same config, one per transport, and measures them in
alternating rounds (so both see the same machine): for each concurrency,
``--rounds`` rounds of ``--calls`` calls each, with that many in flight.
Reported: requests per second (median over rounds) and the ratio of aiohttp
to httpx. Without ``httpx-aiohttp`` installed it says so and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

X = "\N{MULTIPLICATION SIGN}"
MESSAGES = [{"role": "user", "content": "When will order 58213 ship?"}]
CONCURRENCY = (1, 8, 64)


def _config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"fake": {"kind": "openai_compatible", "base_url": base_url}},
        "models": {"bench": {"provider": "fake", "model": "bench-model"}},
        "routes": {"bench": {"candidates": ["bench"]}},
    }


async def _round(r: Any, calls: int, in_flight: int) -> float:
    """Requests per second of ``calls`` calls with ``in_flight`` at a time."""
    sem = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with sem:
            await r.chat(MESSAGES, model="bench", max_tokens=16)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return calls / (time.perf_counter() - t0)


async def measure(base_url: str, calls: int, rounds: int) -> dict[str, Any]:
    """Both transports at each concurrency, in alternating rounds."""
    import router

    routers = {
        "httpx": router.AsyncRouter(_config(base_url)),
        "aiohttp": router.AsyncRouter(_config(base_url), transport_factory="aiohttp"),
    }
    out: dict[str, Any] = {"calls": calls, "rounds": rounds, "rows": []}
    try:
        for r in routers.values():  # connect and warm up
            await _round(r, 32, 8)
        for n in CONCURRENCY:
            seen: dict[str, list[float]] = {name: [] for name in routers}
            for _ in range(rounds):
                for name, r in routers.items():
                    seen[name].append(await _round(r, calls, n))
            med = {name: statistics.median(v) for name, v in seen.items()}
            out["rows"].append(
                {
                    "in_flight": n,
                    "httpx_req_s": med["httpx"],
                    "aiohttp_req_s": med["aiohttp"],
                    "ratio": med["aiohttp"] / med["httpx"],
                }
            )
    finally:
        for r in routers.values():
            await r.aclose()
    return out


def render(res: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = [
        f"AsyncRouter by transport; {res['calls']} calls per round, median of "
        f"{res['rounds']} alternating rounds.",
        "",
        "| in flight | httpx pool req/s | aiohttp req/s | aiohttp / httpx |",
        "|---:|---:|---:|---:|",
    ]
    for row in res["rows"]:
        lines.append(
            f"| {row['in_flight']} | {row['httpx_req_s']:,.0f} | {row['aiohttp_req_s']:,.0f} "
            f"| {row['ratio']:.2f}{X} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from router.execution.transports import aiohttp_available

    if not aiohttp_available():
        print("httpx-aiohttp is not installed: pip install 'llm-policy-router[aiohttp]'")
        sys.exit(1)
    from benchmarks.run import _cpus, start_server

    server_cpu, _ = _cpus()
    proc, base_url = start_server(server_cpu)
    try:
        res = asyncio.run(measure(base_url, args.calls, args.rounds))
    finally:
        proc.terminate()
        proc.wait(10)
    print(json.dumps(res, indent=2) if args.json else render(res))


if __name__ == "__main__":
    main()
