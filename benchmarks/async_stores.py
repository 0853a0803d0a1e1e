"""AsyncRouter against each state store, 64 calls in flight.

    python -m benchmarks.async_stores                 # 640 calls per store
    python -m benchmarks.async_stores --calls 2000 --json
    python -m benchmarks.async_stores --stores redis --rounds 5   # memory and redis, alternating

One fake OpenAI-compatible server (``benchmarks/fake_server.py``) runs in its
own process; this script starts its own ``redis-server`` on a free loopback
port (no persistence) and two TCP latency proxies in front of it, each in a
process of its own, which hold every forwarded chunk for a fixed delay in each
direction (1 ms and 20 ms, so a Redis round trip gains 2 ms and 40 ms). Each
store configuration is measured in a fresh worker process:

- ``memory``; ``sqlite`` (a file in a temporary directory); ``redis`` direct;
  ``redis +1ms`` and ``redis +20ms`` (through the proxies).

The config has one route to one model whose provider has a circuit breaker,
and a per-tenant budget: every call reserves and settles a budget hold, and
records its breaker and latency-health state, all in the store.

Per configuration the worker measures: one call alone (median of 3 after a
warm-up call); 64 calls started together (the time until the last one
finishes); then ``--calls`` calls with 64 in flight (``asyncio.gather`` over a
semaphore; no new call starts after ``--max-seconds``): requests per second,
and the event loop's longest stall, from a task that sleeps 1 ms in a loop and
records the largest gap between its wake-ups; and the worker process's CPU
time per call in that phase (user + system: the router, the store's client,
the transport), which other load on the machine barely moves, unlike requests
per second. Requests per second are reported as ratios to the memory store of
the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

X, DASH = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"
IN_FLIGHT = 64
DELAYS_MS = (1.0, 20.0)
REDIS_TARGET = 0.8  # redis req/s >= 0.8x memory
BURST_TARGET = 2.0  # 64 concurrent calls at +20 ms within 2x one call alone ("about as long")
MESSAGES = [
    {"role": "system", "content": "You are a concise customer-support assistant."},
    {"role": "user", "content": "When will order 58213 ship?"},
]
CONTEXT = {"tenant": "acme", "user": "u-1042"}


# -- the latency proxy -----------------------------------------------------------


class LatencyProxy:
    """A loopback TCP proxy that holds each chunk ``delay_s`` in each direction.

    Chunks are delayed, not serialised: one that arrives at ``t`` goes out at
    ``t + delay_s`` (or when the previous one has gone out, to keep order), so the
    proxy adds latency without capping throughput.
    """

    def __init__(self, target_port: int, delay_s: float, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.target)
        except OSError:
            c_writer.close()
            self._tasks.discard(task)  # type: ignore[arg-type]
            return
        for w in (c_writer, s_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(
                self._pipe(c_reader, s_writer),
                self._pipe(s_reader, c_writer),
                return_exceptions=True,
            )
        finally:
            for w in (c_writer, s_writer):
                w.close()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def pump() -> None:
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b""
                queue.put_nowait((loop.time() + self.delay_s, data))
                if not data:
                    return

        pumping = asyncio.ensure_future(pump())
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            pumping.cancel()
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


async def _serve_proxy(target_port: int, delay_ms: float) -> None:
    import signal

    proxy = LatencyProxy(target_port, delay_ms / 1000)
    port = await proxy.start()
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await proxy.close()


# -- processes -------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_with_port(cmd: list[str], what: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        _stop(proc)
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def start_redis(workdir: str, timeout: float = 10.0) -> tuple[subprocess.Popen[bytes], int]:
    """A private ``redis-server`` on a free loopback port, without persistence."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not on PATH")
    port = _free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", workdir, "--daemonize", "no", "--loglevel", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError("redis-server did not answer PING")


# -- one configuration, in a worker process --------------------------------------


def bench_config(base_url: str, state: str) -> dict[str, Any]:
    """One model behind a breaker, a per-tenant budget, the given ``state:``."""
    return {
        "providers": {
            "fake": {
                "kind": "openai_compatible",
                "base_url": base_url,
                "breaker": {"failures": 5, "window_s": 60, "cooldown_s": 30},
            }
        },
        "models": {
            "bench": {
                "provider": "fake",
                "model": "bench-model",
                "price": {"input": 1.0, "output": 2.0},
            }
        },
        "rules": [
            {"name": "tenant-budget", "budget": {"usd": 1_000_000, "per": "day", "key": "tenant"}}
        ],
        "routes": {"bench": {"candidates": ["bench"]}},
        "state": state,
    }


class _Ticker:
    """A task that sleeps 1 ms at a time; the largest gap between wake-ups is the stall."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        pc = time.perf_counter
        last = pc()
        while True:
            await asyncio.sleep(0.001)
            now = pc()
            self.max_gap = max(self.max_gap, now - last)
            last = now

    def __enter__(self) -> _Ticker:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _measure(
    base_url: str, state: str, calls: int, max_seconds: float, transport: str = "httpx"
) -> dict[str, Any]:
    import router
    from router.state.base import OPERATIONS

    factory = None if transport == "httpx" else transport
    r = router.AsyncRouter.from_dict(bench_config(base_url, state), transport_factory=factory)

    async def call() -> None:
        await r.chat(MESSAGES, model="bench", context=CONTEXT, max_tokens=16)

    out: dict[str, Any] = {"state": state}
    try:
        # A warm-up call, then one more counting the store operations a call
        # makes in the steady state (the first also reads the latency averages).
        await call()
        store, counted = r.async_store, []
        for name in OPERATIONS:
            fn = getattr(store, name, None)
            if fn is not None:

                def wrap(fn: Any = fn, name: str = name) -> Any:
                    async def counting(*a: Any, **k: Any) -> Any:
                        counted.append(name)
                        return await fn(*a, **k)

                    return counting

                setattr(store, name, wrap())
        await call()
        for name in OPERATIONS:
            with contextlib.suppress(AttributeError):
                delattr(store, name)
        out["store_ops_per_call"] = len(counted)

        singles = []
        for _ in range(3):
            t0 = time.perf_counter()
            await call()
            singles.append(time.perf_counter() - t0)
        out["single_s"] = statistics.median(singles)

        with _Ticker() as tick:
            t0 = time.perf_counter()
            res = await asyncio.gather(*(call() for _ in range(IN_FLIGHT)), return_exceptions=True)
            out["burst_s"] = time.perf_counter() - t0
        out["burst_errors"] = sum(isinstance(x, BaseException) for x in res)
        out["burst_stall_ms"] = tick.max_gap * 1000

        sem = asyncio.Semaphore(IN_FLIGHT)
        done = errors = 0
        stop_at = time.perf_counter() + max_seconds

        async def one() -> None:
            nonlocal done, errors
            async with sem:
                if time.perf_counter() > stop_at:
                    return
                try:
                    await call()
                except Exception:
                    errors += 1
                done += 1

        with _Ticker() as tick:
            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one() for _ in range(calls)))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.update(
            calls=done,
            errors=errors,
            wall_s=wall,
            cpu_ms_per_call=cpu * 1000 / done if done else 0.0,
            req_per_s=done / wall if wall > 0 else 0.0,
            stall_ms=tick.max_gap * 1000,
            truncated=done < calls,
        )
    finally:
        await r.aclose()
    return out


def run_worker(
    base_url: str,
    state: str,
    calls: int,
    max_seconds: float,
    cpu: int | None,
    transport: str = "httpx",
) -> dict[str, Any]:
    """Measure one configuration in a fresh process; its result."""
    cmd = [sys.executable, "-m", "benchmarks.async_stores", "--worker", state]
    cmd += ["--base-url", base_url, "--calls", str(calls), "--max-seconds", str(max_seconds)]
    cmd += ["--transport", transport]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    # Bounded: the throughput phase stops starting calls after max_seconds; the burst of
    # 64 calls and the singles at +20 ms take about 64 x 11 x 40 ms more.
    timeout = 3 * max_seconds + 180
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{state}: " + (" / ".join(tail) or f"exit {out.returncode}"))
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_all(
    calls: int,
    max_seconds: float,
    transport: str = "httpx",
    stores: list[str] | None = None,
    rounds: int = 1,
) -> dict[str, Any]:
    """Start the server, Redis and the proxies; measure the configurations; stop them all.

    ``stores`` picks configurations by name (all when ``None``); with
    ``rounds`` > 1 each round measures every one of them in turn, so a ratio
    compares runs minutes apart at most, and each row is the round's median.
    """
    from benchmarks.run import _cpus, start_server

    server_cpu, client_cpu = _cpus()
    procs: list[subprocess.Popen[Any]] = []
    tmp = tempfile.mkdtemp(prefix="bench-async-stores-")
    results: dict[str, Any] = {
        "calls": calls,
        "in_flight": IN_FLIGHT,
        "max_seconds": max_seconds,
        "transport": transport,
        "rounds": rounds,
    }
    if hasattr(os, "getloadavg"):
        results["load_avg_start"] = os.getloadavg()[0]
    try:
        server, base_url = start_server(server_cpu)
        procs.append(server)
        redis_proc, redis_port = start_redis(tmp)
        procs.append(redis_proc)
        proxy_ports = {}
        for delay in DELAYS_MS:
            cmd = [sys.executable, "-m", "benchmarks.async_stores", "--proxy", str(redis_port)]
            proxy, port = _spawn_with_port([*cmd, "--delay-ms", str(delay)], "latency proxy")
            procs.append(proxy)
            proxy_ports[delay] = port
        configs = {
            "memory": "memory",
            "sqlite": f"sqlite:///{tmp}/state.db",
            "redis": f"redis://127.0.0.1:{redis_port}/0",
        }
        for i, delay in enumerate(DELAYS_MS, start=1):
            configs[f"redis +{delay:g}ms"] = f"redis://127.0.0.1:{proxy_ports[delay]}/{i}"
        if stores is not None:
            unknown = set(stores) - set(configs) - {"memory"}
            if unknown:
                raise ValueError(f"unknown stores {sorted(unknown)}; known: {list(configs)}")
            # Memory is the baseline every ratio needs.
            configs = {k: v for k, v in configs.items() if k in stores or k == "memory"}
        each: list[dict[str, Any]] = []
        for i in range(rounds):
            rows: dict[str, Any] = {}
            for name, state in configs.items():
                print(f"round {i + 1}/{rounds}: measuring {name} ...", file=sys.stderr, flush=True)
                rows[name] = run_worker(base_url, state, calls, max_seconds, client_cpu, transport)
            each.append(rows)
        results["each_round"] = each
        results["configs"] = _median_rows(each)
    finally:
        for p in reversed(procs):
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def _median_rows(each: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration, the median over rounds of every number; ratios to memory per round."""
    out: dict[str, Any] = {}
    for name in each[0]:
        runs = [rows[name] for rows in each]
        row: dict[str, Any] = dict(runs[0])
        for key, value in runs[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[key] = statistics.median(r[key] for r in runs)
        row["truncated"] = any(r.get("truncated") for r in runs)
        row["ratio_each"] = [
            rows[name]["req_per_s"] / rows["memory"]["req_per_s"]
            for rows in each
            if rows["memory"]["req_per_s"]
        ]
        out[name] = row
    return out


# -- the report ------------------------------------------------------------------


def _range(xs: list[float]) -> str:
    return f" ({min(xs):.2f}{DASH}{max(xs):.2f})" if len(xs) > 1 else ""


def _fmt_ms(s: float) -> str:
    ms = s * 1000
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def render(results: dict[str, Any]) -> str:
    """The Markdown report of a run (ratios to the memory store)."""
    rows = results["configs"]
    base = rows["memory"]["req_per_s"]
    lines = [
        f"AsyncRouter over {results.get('transport', 'httpx')}, {results['in_flight']} calls "
        f"in flight (up to {results['calls']} calls per store); requests/s as a ratio to memory.",
        "",
        "| store | req/s @64 | vs memory | longest loop stall | one call alone "
        "| 64 calls at once | store ops/call | CPU/call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        ratio = r["req_per_s"] / base if base else float("nan")
        ratios = r.get("ratio_each") or []
        if len(ratios) > 1:  # the median of the rounds' own ratios, and their range
            ratio = statistics.median(ratios)
        n = f" ({r['calls']} calls)" if r.get("truncated") else ""
        errs = r.get("errors", 0) + r.get("burst_errors", 0)
        err = f", {errs} errors" if errs else ""
        lines.append(
            f"| {name} | {r['req_per_s']:,.0f}{n}{err} | {ratio:.2f}{X}"
            f"{_range(ratios) if name != 'memory' else ''} "
            f"| {r['stall_ms']:,.1f} ms | {_fmt_ms(r['single_s'])} "
            f"| {_fmt_ms(r['burst_s'])} | {r['store_ops_per_call']:g} "
            f"| {r.get('cpu_ms_per_call', float('nan')):.2f} ms |"
        )
    lines.append("")
    if "redis" in rows and base:
        ratios = rows["redis"].get("ratio_each") or []
        ratio = statistics.median(ratios) if ratios else rows["redis"]["req_per_s"] / base
        met = "met" if ratio >= REDIS_TARGET else "not met"
        over = f", median of {len(ratios)} rounds{_range(ratios)}" if len(ratios) > 1 else ""
        lines.append(
            f"- Redis at 64 in flight: {ratio:.2f}{X} memory{over} (target ≥ 0.8{X}: {met})."
        )
        mem_cpu, redis_cpu = (rows[k].get("cpu_ms_per_call") for k in ("memory", "redis"))
        if mem_cpu and redis_cpu:
            lines.append(
                f"- Client CPU per call: memory {mem_cpu:.2f} ms, redis {redis_cpu:.2f} ms: "
                f"a CPU-bound client would run Redis at {mem_cpu / redis_cpu:.2f}{X} memory."
            )
    slow = f"redis +{DELAYS_MS[-1]:g}ms"
    if slow in rows:
        r = rows[slow]
        k = r["burst_s"] / r["single_s"] if r["single_s"] else float("nan")
        met = "met" if k <= BURST_TARGET else "not met"
        lines.append(
            f"- Redis +{DELAYS_MS[-1]:g} ms: 64 concurrent calls take {_fmt_ms(r['burst_s'])}, "
            f"one call alone {_fmt_ms(r['single_s'])} ({r['store_ops_per_call']} store steps): "
            f"{k:.1f}{X} (target about 1{X}, ≤ {BURST_TARGET:g}{X}: {met})."
        )
    return "\n".join(lines) + "\n"


# -- entry point -----------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with --worker / --proxy, one of its processes)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--calls", type=int, default=640, help="calls per store (64 in flight)")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="per store's timed phase")
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON")
    ap.add_argument(
        "--transport",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="the router's upstream transport (default: httpx's pool, AsyncRouter's default)",
    )
    ap.add_argument(
        "--stores",
        help="comma-separated configurations to measure (memory always): "
        "memory, sqlite, redis, 'redis +1ms', 'redis +20ms'",
    )
    ap.add_argument("--rounds", type=int, default=1, help="measure every store this many times")
    ap.add_argument("--worker", metavar="STATE", help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    ap.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--proxy", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--delay-ms", type=float, default=1.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.calls < 1 or args.max_seconds <= 0:
        ap.error("--calls and --max-seconds must be positive")
    if args.proxy is not None:
        asyncio.run(_serve_proxy(args.proxy, args.delay_ms))
        return
    if args.worker is not None:
        from benchmarks.fake_server import pin

        pin(args.cpu)
        res = asyncio.run(
            _measure(args.base_url, args.worker, args.calls, args.max_seconds, args.transport)
        )
        print(json.dumps(res), flush=True)
        return
    stores = [x.strip() for x in args.stores.split(",")] if args.stores else None
    results = run_all(args.calls, args.max_seconds, args.transport, stores, max(1, args.rounds))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results), end="")


if __name__ == "__main__":
    main()
