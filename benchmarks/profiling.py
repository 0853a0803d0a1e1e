"""Profile one client's per-request path against the fake server.

    python -m benchmarks.profiling                    # router, non-streaming, cProfile
    python -m benchmarks.profiling --mode stream --client httpx
    python -m benchmarks.profiling --pyinstrument     # a call tree (pip install pyinstrument)

The import path is profiled with the interpreter itself::

    BENCH_BASE_URL=http://127.0.0.1:9/v1 python -X importtime -c \\
        "import router; router.Router.from_file('benchmarks/configs/router.yaml')"
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.clients import ASYNC_ONLY, CLIENTS  # noqa: E402
from benchmarks.run import _cpus, start_server  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Warm up, time, then profile ``--n`` requests."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sync_clients = [c for c in CLIENTS if c not in ASYNC_ONLY]
    ap.add_argument("--client", default="router", choices=sync_clients)
    ap.add_argument("--mode", default="call", choices=["call", "stream"])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--pyinstrument", action="store_true")
    args = ap.parse_args(argv)

    server_cpu, _ = _cpus()
    server, base_url = start_server(server_cpu)
    try:
        call, stream, close = CLIENTS[args.client](base_url).sync()
        fn = call if args.mode == "call" else stream
        for _ in range(100):
            fn()
        c0 = time.process_time()
        for _ in range(args.n):
            fn()
        cpu = (time.process_time() - c0) / args.n * 1e6
        print(f"{args.client} {args.mode}: {cpu:.0f} µs CPU per request (unprofiled)")
        if args.pyinstrument:
            from pyinstrument import Profiler

            prof = Profiler(interval=0.0001)
            prof.start()
            for _ in range(args.n):
                fn()
            prof.stop()
            print(prof.output_text(unicode=True, color=False))
        else:
            pr = cProfile.Profile()
            pr.enable()
            for _ in range(args.n):
                fn()
            pr.disable()
            pstats.Stats(pr).sort_stats(args.sort).print_stats(args.top)
        close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
