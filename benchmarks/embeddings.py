"""Router.embed against a raw httpx embeddings call: CPU per call, one process run.

``python -m benchmarks.embeddings [--calls N] [--rounds R] [--batch B] [--dim D]``

A fake OpenAI ``/v1/embeddings`` server runs in a child process (its CPU is
not counted) and answers every request with ``B`` precomputed ``D``-float
vectors. The client process alternates rounds of the two callers and reports
each one's median CPU time per call (``process_time``) and their ratio: the
median, and the range, of each round's router/httpx ratio (the two run back
to back, so a shared machine's drift moves that least):

- ``httpx``: ``httpx.Client.post(json=...)``, ``raise_for_status``, ``json()``
  and the vectors put in index order — what an application writes by hand.
- ``router``: ``Router.embed`` on a one-target route with a priced model and
  a budget rule: validation, classification of every input, the decision,
  the budget hold and ledger record, batching, the wire call, parsing and
  checking every vector, the response.

Two workloads, each measured in the same run: ``repeated`` sends the same
texts every call (as the chat benchmarks repeat their prompt: detection finds
them in its memo of text digests), ``fresh`` sends texts never seen before (a
counter in each), so every input is scanned — what embedding a document
store costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["main"]


def _reply(batch: int, dim: int) -> bytes:
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [round(((i * 31 + j * 17) % 1000) / 1000 - 0.5, 6) for j in range(dim)],
        }
        for i in range(batch)
    ]
    body = json.dumps(
        {
            "object": "list",
            "data": data,
            "model": "bench-embed",
            "usage": {"prompt_tokens": 40 * batch, "total_tokens": 40 * batch},
        },
        separators=(",", ":"),
    ).encode()
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: keep-alive\r\n\r\n%s" % (len(body), body)
    )


class _Http(asyncio.Protocol):
    """Keep-alive HTTP/1.1: every complete request gets the canned reply."""

    reply = b""

    def __init__(self) -> None:
        self._t: asyncio.Transport | None = None
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._t = transport

    def data_received(self, data: bytes) -> None:
        assert self._t is not None
        buf = self._buf + data
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = buf[:end].lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15 : head.find(b"\r\n", i) if b"\r\n" in head[i:] else None])
            if len(buf) < end + 4 + length:
                break
            buf = buf[end + 4 + length :]
            self._t.write(self.reply)
        self._buf = buf


async def _serve(batch: int, dim: int) -> None:
    _Http.reply = _reply(batch, dim)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await asyncio.Event().wait()


def _texts(batch: int, n: int) -> list[str]:
    return [
        f"Support ticket {n}-{i}: the customer reports that the parcel arrived damaged "
        "and asks for a replacement to be sent to the same address next week."
        for i in range(batch)
    ]


Caller = tuple[Callable[[int], Any], Callable[[], None]]


def _httpx_caller(url: str, batch: int) -> Caller:
    import httpx

    client = httpx.Client(headers={"authorization": "Bearer sk-bench"})

    def call(n: int) -> Any:
        r = client.post(
            url + "/embeddings", json={"model": "bench-embed", "input": _texts(batch, n)}
        )
        r.raise_for_status()
        data = sorted(r.json()["data"], key=lambda d: d["index"])
        return [d["embedding"] for d in data]

    return call, client.close


def _router_caller(url: str, batch: int) -> Caller:
    from router import Router

    r = Router(
        {
            "providers": {"p": {"kind": "openai", "base_url": url, "api_key": "sk-bench"}},
            "models": {
                "e": {
                    "provider": "p",
                    "model": "bench-embed",
                    "capabilities": ["embeddings"],
                    "price": {"input": 0.02, "output": 0},
                }
            },
            "routes": {"default": {"candidates": ["e"]}},
            "rules": [
                {
                    "name": "team-budget",
                    "when": {},
                    "budget": {"key": "tenant", "usd": 1000.0, "per": "day"},
                }
            ],
        }
    )

    def call(n: int) -> Any:
        return r.embed(_texts(batch, n), context={"tenant": "bench"}).vectors

    return call, r.close


def _round(call: Callable[[int], Any], start: int, calls: int, fresh: bool) -> float:
    c0 = time.process_time()
    for n in range(start, start + calls):
        call(n if fresh else 0)
    return (time.process_time() - c0) / calls


def _measure(
    callers: dict[str, Caller], rounds: int, calls: int, fresh: bool
) -> dict[str, list[float]]:
    """CPU seconds per call of each caller in each round, rounds alternating between them."""
    cpu: dict[str, list[float]] = {name: [] for name in callers}
    n = 0
    for _ in range(rounds):
        for name, (call, _) in callers.items():
            cpu[name].append(_round(call, n, calls, fresh))
            n += calls
    return cpu


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print a table (``--json`` for machine-readable output)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=200, help="calls per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batch", type=int, default=16, help="inputs per call")
    ap.add_argument("--dim", type=int, default=384, help="floats per vector")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.batch, args.dim))
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.embeddings", "--serve", "--batch", str(args.batch),
         "--dim", str(args.dim)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        url = f"http://127.0.0.1:{port}/v1"
        callers = {
            "httpx": _httpx_caller(url, args.batch),
            "router": _router_caller(url, args.batch),
        }
        for call, _ in callers.values():  # warm up: imports, pools, first-use loads
            for n in range(20):
                assert len(call(-1 - n)) == args.batch
        results = {
            mode: _measure(callers, args.rounds, args.calls, fresh=mode == "fresh")
            for mode in ("repeated", "fresh")
        }
        for _, close in callers.values():
            close()
    finally:
        server.terminate()
        server.wait()
    report = {}
    for mode, cpu in results.items():
        # Each round's two callers ran back to back: their ratio is what the
        # shared machine's drift between rounds moves least.
        paired = sorted(r / h for r, h in zip(cpu["router"], cpu["httpx"], strict=True))
        report[mode] = {
            "cpu_us": {k: statistics.median(v) * 1e6 for k, v in cpu.items()},
            "ratio": statistics.median(paired),
            "ratio_range": [paired[0], paired[-1]],
        }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.batch} inputs x {args.dim} floats per call, {args.rounds} rounds of {args.calls}")
    for mode, r in report.items():
        cpu = r["cpu_us"]
        low, high = r["ratio_range"]
        print(
            f"  {mode:<8}  httpx {cpu['httpx']:8.1f} us  router {cpu['router']:8.1f} us  "
            f"ratio {r['ratio']:.3f}x ({low:.2f}-{high:.2f})  "
            "(CPU per call, medians of rounds; the ratio of each round's pair; target <= 1.25)"
        )


if __name__ == "__main__":
    main()
