"""Instructions per request and at start-up, counted by valgrind: the load cannot move them.

Wall and CPU time on a shared machine drift by tens of percent from one
minute to the next; the number of instructions a client executes for one
request does not. Each count runs a fresh process under
``valgrind --tool=callgrind`` (which counts every thread's instructions, in
user space): the client makes ``WARMUP + n`` calls, the same process making
``WARMUP`` calls is subtracted, and what is left, divided by ``n``, is one
call's instructions. Start-up is counted for the same statements the timed
start-up runs.

An instruction is not a unit of time: a cache miss costs far more than an
add. The counts say how much work each client does; the timed figures say
what that work costs on this machine.

    python -m benchmarks.instructions --base-url URL [--n 200]   # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.clients import CLIENTS, config_path  # noqa: E402

__all__ = ["count", "main", "measure"]

WARMUP = 30
CLIENT_NAMES = ("httpx", "router")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def count(argv: list[str], env: dict[str, str], timeout: float = 900) -> int:
    """Instructions ``python argv`` executes, every thread included."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed")
    out = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    m = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or m is None:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"valgrind run failed: {tail[0]}")
    return int(m.group(1))


def _per_call(name: str, mode: str, base_url: str, n: int, env: dict[str, str]) -> float:
    argv = ["-m", "benchmarks.instructions", "--drive", name, mode, base_url]
    base = count([*argv, "0"], env)
    full = count([*argv, str(n)], env)
    return (full - base) / n


def measure(base_url: str, n: int, env: dict[str, str]) -> dict[str, Any]:
    """Per-call instructions of raw httpx and the router (requests and streams), and
    the instructions of each one's start-up statement; with router ÷ httpx ratios."""
    env = {**env, "PYTHONHASHSEED": "0"}  # the same hashing, so the same work, every run
    out: dict[str, Any] = {"n": n}
    for mode in ("call", "stream"):
        row = {name: _per_call(name, mode, base_url, n, env) for name in CLIENT_NAMES}
        row["ratio"] = row["router"] / row["httpx"]
        out[mode] = row
    start = {}
    for name in CLIENT_NAMES:
        stmt = CLIENTS[name].IMPORT.replace("{cfg!r}", repr(config_path()))
        start[name] = float(count(["-c", stmt], env))
    start["ratio"] = start["router"] / start["httpx"]
    out["startup"] = start
    return out


def _drive(name: str, mode: str, base_url: str, n: int) -> None:
    call, stream, close = CLIENTS[name](base_url).sync()
    fn = call if mode == "call" else stream
    for _ in range(WARMUP + n):
        fn()
    close()


def main(argv: list[str] | None = None) -> None:
    """Count, print JSON (or, with ``--drive``, be the process that is counted)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base-url")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--drive", nargs=4, metavar=("CLIENT", "MODE", "BASE_URL", "N"))
    args = ap.parse_args(argv)
    if args.drive:
        name, mode, base_url, n = args.drive
        _drive(name, mode, base_url, int(n))
        return
    if not args.base_url:
        ap.error("--base-url is required")
    json.dump(measure(args.base_url, args.n, dict(os.environ)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
