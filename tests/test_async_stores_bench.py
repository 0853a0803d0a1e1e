"""Smoke tests of benchmarks/async_stores.py: its latency proxy and its report.

The benchmark itself is not run here (it takes minutes and starts redis-server);
no upper timing thresholds: the proxy must add at least its delay, nothing more
is asserted about speed.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.async_stores import LatencyProxy, render

X = "\N{MULTIPLICATION SIGN}"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_proxy_forwards_bytes_and_adds_the_delay_each_way() -> None:
    delay = 0.05

    async def go() -> tuple[bytes, float, bytes]:
        server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        proxy = LatencyProxy(server.sockets[0].getsockname()[1], delay)
        port = await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            payload = bytes(range(256)) * 40
            t0 = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
            rtt = time.perf_counter() - t0
            writer.write(b"again")
            await writer.drain()
            again = await asyncio.wait_for(reader.readexactly(5), 10)
            writer.close()
            return got, rtt, again
        finally:
            await proxy.close()
            server.close()
            await server.wait_closed()

    got, rtt, again = asyncio.run(go())
    assert got == bytes(range(256)) * 40
    assert again == b"again"
    assert rtt >= 2 * delay * 0.95  # a delay in each direction (timer slack allowed)


def _row(req: float, calls: int = 640, **kw: float) -> dict[str, object]:
    row: dict[str, object] = {
        "req_per_s": req,
        "calls": calls,
        "errors": 0,
        "burst_errors": 0,
        "stall_ms": 12.5,
        "single_s": 0.002,
        "burst_s": 0.1,
        "store_ops_per_call": 12,
        "truncated": calls < 640,
    }
    row.update(kw)
    return row


def test_render_on_canned_numbers() -> None:
    results = {
        "calls": 640,
        "in_flight": 64,
        "configs": {
            "memory": _row(500.0),
            "sqlite": _row(400.0),
            "redis": _row(450.0),
            "redis +1ms": _row(50.0),
            "redis +20ms": _row(2.0, calls=91, single_s=0.5, burst_s=0.75),
        },
    }
    md = render(results)
    lines = md.splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    assert len(table) == 2 + 5
    assert table[0].startswith("| store | req/s @64 | vs memory | longest loop stall")
    assert f"| memory | 500 | 1.00{X} | 12.5 ms |" in md
    assert f"| sqlite | 400 | 0.80{X} |" in md
    assert f"| redis +20ms | 2 (91 calls) | 0.00{X} |" in md
    assert f"Redis at 64 in flight: 0.90{X} memory (target ≥ 0.8{X}: met)" in md
    assert "64 concurrent calls take 750 ms, one call alone 500 ms" in md
    assert f"1.5{X} (target about 1{X}, ≤ 2{X}: met)" in md

    results["configs"]["redis"] = _row(200.0, errors=3)  # type: ignore[index]
    md = render(results)
    assert f"| redis | 200, 3 errors | 0.40{X} |" in md
    assert "not met" in md
