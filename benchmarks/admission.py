"""What taking the budget hold and the first try's limits in one operation saves on Redis.

Two routers on one Redis server, in one process, on the same config: a priced
model with ``rpm``, ``tpm`` and ``max_in_flight``, a per-tenant budget and a
per-tenant ``limit: {rpm, tpm}`` rule (all set high enough never to refuse).
``one`` is the router as it is: admission is one ``admit`` script, one round
trip. ``two`` runs the same code on a store whose ``admit`` is the interface's
default — ``budget_reserve`` then ``limit_acquire``, two round trips — which is
what admission cost before the two were merged. A call is the non-I/O path of
a real one (validate, snapshot, decide, admission, the walk's first step, a
canned reply, settle: release and ``tpm`` correction, commit and ledger).

The two are measured in alternating rounds (A, B, A, B…) so that drift in the
machine's speed hits both alike; per round, wall time over ``--n`` calls (the
round trips are the point, so not CPU time). Reported: the median per-call
time of each, the difference (of the medians, and the median and range of the
per-round differences), the ratio, and the store operations per call counted
on each (on Redis each is one round trip).

``--delay-ms D`` puts the latency proxy of :mod:`benchmarks.async_stores` in
front of the server (D ms each way, so a round trip gains 2·D ms), which makes
the saved round trip stand out of a loaded machine's noise.

``python -m benchmarks.admission [--url redis://127.0.0.1:6379/0] [--n 300] [--rounds 9]
[--delay-ms D]`` prints one JSON object. Keys live under a fresh prefix, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from .limits import call_path

__all__ = ["config", "main", "run"]

HIGH = 1_000_000_000  # never reached: the cost measured is the operations, not a refusal


def config() -> dict[str, Any]:
    """A priced model with every kind of limit, a tenant budget and a tenant rule limit."""
    return {
        "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {
            "a": {
                "provider": "p",
                "model": "a-model",
                "price": {"input": 1.0, "output": 2.0},
                "limits": {"rpm": HIGH, "tpm": HIGH, "max_in_flight": HIGH},
            }
        },
        "routes": {"r": {"candidates": ["a"]}},
        "rules": [
            {"name": "budget", "budget": {"usd": HIGH, "per": "day", "key": "tenant"}},
            {"name": "fair", "limit": {"rpm": HIGH, "tpm": HIGH, "key": "tenant"}},
        ],
    }


def _stores(url: str, prefix: str) -> tuple[Any, Any]:
    """(the Redis store, the same with a two-operation ``admit``)."""
    from router.state.base import StateStore
    from router.state.redis import RedisStore

    class TwoSteps(RedisStore):
        admit = StateStore.admit  # budget_reserve, then limit_acquire

    return RedisStore(url, prefix=prefix), TwoSteps(url, prefix=prefix)


def _round_trips(store: Any) -> list[int]:
    """A counter of the commands ``store`` sends (each a round trip: no pipeline is
    on a successful call's path)."""
    count = [0]
    client = store._redis
    send = client.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return send(*args, **kwargs)

    client.execute_command = counted
    return count


def _call_path(store: Any) -> Callable[[], None]:
    import router

    return call_path(router.Router(config(), store=store))


def _wall_us(fn: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n / 1000


def _drop(store: Any, prefix: str) -> None:
    client = store._redis
    keys: Sequence[str] = list(client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


def run(url: str, n: int, rounds: int) -> dict[str, Any]:
    """Alternate the two ``rounds`` times, ``n`` calls each; medians per call."""
    prefix = f"bench-admission-{uuid.uuid4().hex[:8]}:"
    one, two = _stores(url, prefix)
    paths = {"one": _call_path(one), "two": _call_path(two)}
    try:
        for fn in paths.values():  # warm: imports, scripts, memo
            for _ in range(min(100, n)):
                fn()
        trips = {}
        for name, store in (("one", one), ("two", two)):
            count = _round_trips(store)
            for _ in range(20):  # the marks are read once a second: an average
                paths[name]()
            trips[name] = count[0] / 20
        times: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(rounds):
            for k, fn in paths.items():
                times[k].append(_wall_us(fn, n))
    finally:
        _drop(one, prefix)
        one.close()
        two.close()
    a, b = statistics.median(times["one"]), statistics.median(times["two"])
    diffs = sorted(y - x for x, y in zip(times["one"], times["two"], strict=True))
    return {
        "n_per_round": n,
        "rounds": rounds,
        "round_trips_per_call": trips,
        "one_op_admission_us": round(a, 1),
        "two_op_admission_us": round(b, 1),
        "saved_us": round(b - a, 1),
        "saved_us_paired_median": round(statistics.median(diffs), 1),
        "saved_us_paired_range": [round(diffs[0], 1), round(diffs[-1], 1)],
        "ratio": round(a / b, 3),
    }


def _proxied(url: str, delay_ms: float) -> tuple[Any, str]:
    """A latency proxy in front of the loopback server of ``url``; the process and its URL."""
    from urllib.parse import urlsplit, urlunsplit

    from .async_stores import _spawn_with_port

    parts = urlsplit(url)
    cmd = [sys.executable, "-m", "benchmarks.async_stores", "--proxy", str(parts.port or 6379)]
    proc, port = _spawn_with_port([*cmd, "--delay-ms", str(delay_ms)], "latency proxy")
    return proc, urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print JSON."""
    from .async_stores import _stop

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    args = ap.parse_args(argv)
    proxy = None
    url = args.url
    if args.delay_ms > 0:
        proxy, url = _proxied(url, args.delay_ms)
    try:
        out = run(url, args.n, args.rounds)
    finally:
        if proxy is not None:
            _stop(proxy)
    out["delay_ms"] = args.delay_ms
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
