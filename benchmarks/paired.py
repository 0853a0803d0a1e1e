"""The router against raw httpx, paired: alternate calls in one process.

Separate processes measured one after the other see whatever else the
machine was doing at the time; on a shared machine that can move a ratio by
more than the router costs. Here each router call is timed right after a raw
httpx call, so both see the same conditions, and the ratio of their medians is
the router's overhead alone.

``python -m benchmarks.paired --base-url URL [--n 1000]`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from .clients import Httpx, PolicyRouter
from .fake_server import pin

__all__ = ["main", "paired"]


def paired(a: Callable[[], Any], b: Callable[[], Any], n: int, warmup: int) -> dict[str, float]:
    """Median CPU µs of ``a`` and ``b`` called alternately ``n`` times each."""
    for _ in range(warmup):
        a()
        b()
    ta: list[float] = []
    tb: list[float] = []
    pt = time.process_time_ns
    for _ in range(n):
        c0 = pt()
        a()
        c1 = pt()
        b()
        c2 = pt()
        ta.append((c1 - c0) / 1000)
        tb.append((c2 - c1) / 1000)
    ma, mb = statistics.median(ta), statistics.median(tb)
    return {"n": n, "httpx_cpu_p50_us": ma, "router_cpu_p50_us": mb, "ratio": mb / ma}


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)
    pin(args.cpu)
    h_call, h_stream, h_close = Httpx(args.base_url).sync()
    r_call, r_stream, r_close = PolicyRouter(args.base_url).sync()
    out = {
        "request": paired(h_call, r_call, args.n, args.warmup),
        "stream": paired(h_stream, r_stream, max(1, args.n // 2), args.warmup),
    }
    h_close()
    r_close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
