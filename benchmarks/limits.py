"""What rate limits cost per call: the facade's non-I/O path with and without limits.

Three routers over the memory store, in one process, on the same two-target
config: one without ``limits:`` (the baseline), one whose first model has
``rpm`` and ``tpm`` (``model``), and one with every kind there is — that
model's ``rpm``, ``tpm`` and ``max_in_flight``, its provider's ``rpm`` and
``max_in_flight``, and a per-tenant ``limit: {rpm, tpm}`` rule (``every``) —
all set high enough never to refuse. A call is the whole non-I/O path a real one takes
(validate, snapshot with the rate-limit marks, decide, set up the walk, take
the try's limits, parse a canned reply, release the in-flight slots, correct
``tpm`` to the usage, settle). Every router reads the provider-header marks
(at most once a second), so the difference is the configured limits' own cost.

The three are measured in alternating rounds (A, B, C, A, B, C…) so that
drift in the machine's speed hits all alike; per round, CPU time
(``process_time``) over ``--n`` calls. Reported per limited router: the
median per-call CPU time, the difference to the baseline in µs (of the
medians, of the fastest rounds, and the median of the per-round
differences) and the ratio.

``python -m benchmarks.limits [--n 2000] [--rounds 15] [--cpu N]`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from .fake_server import _json_body, pin

__all__ = ["config", "main", "run"]

MESSAGES = [
    {"role": "system", "content": "You are a concise support assistant."},
    {
        "role": "user",
        "content": "Where is my parcel for order 58213? It has not moved since Tuesday.",
    },
]
CONTEXT = {"tenant": "acme", "user": "u1"}
HIGH = 1_000_000_000  # never reached: the cost measured is the check, not a refusal


def config(limits: str) -> dict[str, Any]:
    """Two targets on two providers behind route ``r``; ``limits``: none, model or every."""
    cfg: dict[str, Any] = {
        "providers": {
            "p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"},
            "q": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"},
        },
        "models": {
            "a": {"provider": "p", "model": "a-model"},
            "b": {"provider": "q", "model": "b-model"},
        },
        "routes": {"r": {"candidates": ["a", "b"]}},
    }
    if limits == "model":
        cfg["models"]["a"]["limits"] = {"rpm": HIGH, "tpm": HIGH}
    elif limits == "every":
        cfg["providers"]["p"]["limits"] = {"rpm": HIGH, "max_in_flight": HIGH}
        cfg["models"]["a"]["limits"] = {"rpm": HIGH, "tpm": HIGH, "max_in_flight": HIGH}
        cfg["rules"] = [{"name": "per-tenant", "limit": {"rpm": HIGH, "tpm": HIGH}}]
    return cfg


def _call_path(limits: str) -> Callable[[], None]:
    import router

    return call_path(router.Router(config(limits)))


def call_path(r: Any) -> Callable[[], None]:
    """One call through ``r``'s own path, without HTTP: start, walk, answer, finish."""
    from router.execution.walker import Send
    from router.providers.openai_compatible import OpenAICompatibleAdapter

    core = r._core
    adapter, body = OpenAICompatibleAdapter(), _json_body()

    def call() -> None:
        c = core.start(MESSAGES, "r", CONTEXT, {"max_tokens": 64})
        step = c.walker.next()
        assert isinstance(step, Send)
        c.walker.succeeded(step, 0.001, final=True)
        core.finish(c, adapter.parse_response(body), step.target)

    return call


def _cpu_us(fn: Callable[[], None], n: int) -> float:
    t0 = time.process_time_ns()
    for _ in range(n):
        fn()
    return (time.process_time_ns() - t0) / n / 1000


def run(n: int, rounds: int) -> dict[str, Any]:
    """Alternate the routers ``rounds`` times, ``n`` calls each; medians per call."""
    kinds = ("none", "model", "every")
    paths = {k: _call_path(k) for k in kinds}
    for fn in paths.values():  # warm: imports, schemas, memo
        for _ in range(min(300, n)):
            fn()
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):
        for k in kinds:
            times[k].append(_cpu_us(paths[k], n))
    base = statistics.median(times["none"])
    out: dict[str, Any] = {
        "n_per_round": n,
        "rounds": rounds,
        "without_limits_us": round(base, 2),
        "budget_us": 20.0,
    }
    for k in kinds[1:]:
        mine = statistics.median(times[k])
        diffs = sorted(y - x for x, y in zip(times["none"], times[k], strict=True))
        out[k] = {
            "with_limits_us": round(mine, 2),
            "added_us": round(mine - base, 2),
            # Noise only ever adds time: the fastest rounds' difference is the least noisy.
            "added_us_fastest_rounds": round(min(times[k]) - min(times["none"]), 2),
            "added_us_paired_median": round(statistics.median(diffs), 2),
            "added_us_paired_range": [round(diffs[0], 2), round(diffs[-1], 2)],
            "ratio": round(mine / base, 3),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)
    pin(args.cpu)
    json.dump(run(args.n, args.rounds), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
