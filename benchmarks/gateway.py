"""The gateway's cost: the fake upstream called directly, through ``llm-router serve``,
and through LiteLLM's proxy, same upstream, same pinning, one process run.

    python benchmarks/gateway.py [--quick]

The fake server (benchmarks/fake_server.py) is pinned to CPU 0 with the load
generator; the proxy under test (one worker) to CPU 1. Measured per
configuration: latency p50 / p99 at concurrency 1 (non-streamed; the paths'
sequential requests taken in interleaved blocks, so that a neighbour's load on
a shared machine weighs on all of them alike), and
requests/s with 64 requests in flight, non-streamed and streamed (each stream
read to its end). Reported as added latency (proxy minus direct) and as the
gateway's throughput over LiteLLM's. LiteLLM runs from the interpreter in
``$LITELLM_PYTHON`` (a separate venv with ``litellm[proxy]``: it pins packages
the router's environment should not take); without it that column is skipped.
The report goes to ``benchmarks/results/gateway-latest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
KEY = "bench-gateway-key-0123456789"
DIGEST = "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()
MESSAGES = [
    {"role": "system", "content": "You are a concise customer-support assistant."},
    {"role": "user", "content": "When will order 58213 ship, and can I change the address?"},
]
# name: (sequential requests, requests in flight, total concurrent requests, streams)
MODES = {"full": (2000, 64, 6000, 2000), "quick": (300, 64, 1500, 500)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _taskset(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def _wait(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def _process(
    cmd: list[str], health: str, what: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        _wait(health, proc, what)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def fake_upstream() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_server", "--port", "0", "--cpu", "0"],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("PORT "):
        raise RuntimeError("fake server did not start")
    try:
        yield f"http://127.0.0.1:{line.split()[1]}/v1"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


@contextmanager
def gateway(upstream: str, tmp: Path) -> Iterator[str]:
    config = {
        "providers": {"fake": {"kind": "openai_compatible", "base_url": upstream, "zone": "local"}},
        "models": {"bench-model": {"provider": "fake", "model": "bench-model"}},
        "routes": {"support": {"candidates": ["bench-model"]}},
        "telemetry": {"enabled": False},
        # The key's digest: serve refuses a key written in the file.
        "gateway": {
            "keys": [{"name": "bench", "key": DIGEST, "tenant": "acme"}],
            "access_log": False,
        },
    }
    path = tmp / "gateway.yaml"
    path.write_text(json.dumps(config))
    port = _free_port()
    cmd = [*_taskset(1), sys.executable, "-m", "router.cli", "serve", str(path)]
    cmd += ["--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with _process(cmd, f"http://127.0.0.1:{port}/healthz", "the gateway", env):
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def litellm_proxy(upstream: str, tmp: Path) -> Iterator[str | None]:
    python = os.environ.get("LITELLM_PYTHON")
    if not python:
        yield None
        return
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "support",
                        "litellm_params": {
                            "model": "openai/bench-model",
                            "api_base": upstream,
                            "api_key": "sk-bench",
                        },
                    }
                ],
                "general_settings": {"master_key": "sk-" + KEY},
                "litellm_settings": {"telemetry": False},
            }
        )
    )
    port = _free_port()
    cmd = [*_taskset(1), python, "-m", "litellm.proxy.proxy_cli", "--config", str(cfg)]
    cmd += ["--port", str(port), "--num_workers", "1"]
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    with _process(cmd, f"http://127.0.0.1:{port}/health/liveliness", "LiteLLM's proxy", env):
        yield f"http://127.0.0.1:{port}/v1"


def _body(stream: bool, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 128}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def latency(
    paths: dict[str, tuple[str, str, str]], n: int, block: int = 100
) -> dict[str, list[float]]:
    """Milliseconds of each of ``n`` sequential non-streamed requests per path (name →
    (base URL, key, model)), after a warm-up, taken in interleaved blocks of ``block``:
    a neighbour's load on the shared machine then weighs on every path alike, and the
    added latency (a path minus the upstream directly) stays comparable."""
    out: dict[str, list[float]] = {name: [] for name in paths}
    clients = {
        name: httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=30)
        for name, (_, key, _) in paths.items()
    }

    def one(name: str) -> float:
        base, _, model = paths[name]
        t0 = time.perf_counter()
        r = clients[name].post(base + "/chat/completions", json=_body(False, model))
        dt = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
        return dt

    try:
        for name in paths:
            for _ in range(50):
                one(name)
        names = list(paths)
        for i in range(max(1, n // block)):
            for name in names if i % 2 == 0 else names[::-1]:
                out[name].extend(one(name) for _ in range(block))
    finally:
        for c in clients.values():
            c.close()
    return out


async def _throughput(
    base: str, key: str, model: str, total: int, inflight: int, stream: bool
) -> float:
    """Requests (or whole streams) per second with ``inflight`` at once, from aiohttp (a
    load generator cheaper than httpx, so that the server side is what is measured)."""
    import aiohttp

    conn = aiohttp.TCPConnector(limit=inflight)
    headers = {"authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(connector=conn, headers=headers) as c:
        body = json.dumps(_body(stream, model))
        left = 0

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with c.post(
                    base + "/chat/completions",
                    data=body,
                    headers={"content-type": "application/json"},
                ) as r:
                    r.raise_for_status()
                    async for _ in r.content.iter_any():
                        pass

        left = inflight * 2  # warm-up
        await asyncio.gather(*(worker() for _ in range(inflight)))
        left = total
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        return total / (time.perf_counter() - t0)


def measure(
    base: str, key: str, model: str, lat: list[float], mode: tuple[int, int, int, int]
) -> dict[str, float]:
    _, inflight, total, streams = mode
    q = statistics.quantiles(lat, n=100)
    return {
        "p50_ms": statistics.median(lat),
        "p99_ms": q[98],
        "rps": asyncio.run(_throughput(base, key, model, total, inflight, False)),
        "stream_rps": asyncio.run(_throughput(base, key, model, streams, inflight, True)),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (about a minute)")
    args = ap.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    results: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_upstream() as upstream,
        gateway(upstream, Path(tmp)) as gw,
        litellm_proxy(upstream, Path(tmp)) as lp,
    ):
        # Both proxies run from the start, on CPU 1; only the one measured is busy.
        paths = {"direct": (upstream, "sk-bench", "bench-model"), "gateway": (gw, KEY, "support")}
        if lp is not None:
            paths["litellm"] = (lp, "sk-" + KEY, "support")
        lat = latency(paths, mode[0])
        for name, (base, key, model) in paths.items():
            results[name] = measure(base, key, model, lat[name], mode)
    lines = [
        f"# Gateway benchmark ({'quick' if args.quick else 'full'}), "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        "",
        f"{os.cpu_count()} CPUs; fake upstream and load generator on CPU 0, the proxy "
        f"(1 worker) on CPU 1. Latency: {mode[0]} sequential requests per path, in "
        "interleaved blocks of 100; throughput: "
        f"{mode[2]} requests / {mode[3]} streams with {mode[1]} in flight.",
        "",
        "| path | p50 ms | p99 ms | req/s | streams/s |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['rps']:.0f} | "
            f"{r['stream_rps']:.0f} |"
        )
    d, g = results["direct"], results["gateway"]
    lines += [
        "",
        f"- gateway added latency: p50 {g['p50_ms'] - d['p50_ms']:.3f} ms, "
        f"p99 {g['p99_ms'] - d['p99_ms']:.3f} ms (target: <= 1 ms at p50)",
    ]
    if "litellm" in results:
        ll = results["litellm"]
        lines += [
            f"- LiteLLM proxy added latency: p50 {ll['p50_ms'] - d['p50_ms']:.3f} ms",
            f"- gateway / LiteLLM requests/s per worker: {g['rps'] / ll['rps']:.2f}x, "
            f"streamed {g['stream_rps'] / ll['stream_rps']:.2f}x (target: >= 5x)",
        ]
    else:
        lines.append("- LiteLLM's proxy: not measured (set LITELLM_PYTHON)")
    report = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gateway-latest.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
