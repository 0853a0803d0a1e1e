"""What redaction adds: CPU per call on a 2 KB message, with and without a redact rule.

``python -m benchmarks.redaction [--calls N] [--rounds R] [--json]``

Two routers with the same providers, models and detectors (email, phone,
cards) route to the same frontier target on the fake OpenAI server
(``benchmarks/fake_server.py``, a child process whose CPU is not counted).
``redact`` adds one rule, ``redact: {detectors: [email, phone], zones:
[frontier], restore: true}``; ``plain`` has none. Every call sends a 2 KB
user message holding three email addresses (two distinct) and two phone
numbers, new each call (a counter in it: the classification memo never
hits), so each ``redact`` call finds and replaces five spans, classifies the
redacted request again, decides the zone on it, sends the redacted body and
restores the answer.

Rounds of the two routers alternate; the report gives each one's median CPU
per call (``process_time``) and the difference — the CPU redaction adds: the
median, and the range, of each round's difference (the two run back to back,
so a shared machine's drift moves that least) —
for the whole ``Router.chat`` call and for the decision alone
(``Policy.decide``, where the redaction work happens). Target: ≤ 30 µs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MESSAGE_BYTES", "main", "message"]

MESSAGE_BYTES = 2048

_FILLER = (
    "The customer wrote again about the delayed shipment and asked us to confirm the new "
    "delivery window, the refund for the damaged item, and whether the replacement can be "
    "sent to the office instead of the home address. "
)


def message(n: int) -> str:
    """A 2 KB message numbered ``n``: five spans to redact among ordinary prose."""
    head = (
        f"Ticket {n}: please reply to jane.doe{n}@example.com and copy ops@example.org; "
        f"call +1415555{n % 10000:04d} or +4930123456{n % 10}. Reply to jane.doe{n}@example.com. "
    )
    body = head
    while len(body) < MESSAGE_BYTES:
        body += _FILLER
    return body[:MESSAGE_BYTES]


def config(
    url: str, *, redact: bool, detectors: tuple[str, ...] = ("email", "phone")
) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    if redact:
        rules.append(
            {
                "name": "pii-out",
                "redact": {"detectors": list(detectors), "zones": ["frontier"], "restore": True},
            }
        )
    return {
        "providers": {"p": {"kind": "openai", "base_url": url, "api_key": "sk-bench"}},
        "models": {"m": {"provider": "p", "model": "bench-model"}},
        "sensitivity": {
            "detect": [
                {"detector": "email", "level": "internal"},
                {"detector": "phone", "level": "internal"},
                {"detector": "payment_card", "level": "confidential"},
            ]
        },
        "routes": {"default": {"candidates": ["m"]}},
        "rules": rules,
    }


Caller = Callable[[int], Any]


def _round(call: Caller, start: int, calls: int) -> float:
    c0 = time.process_time()
    for n in range(start, start + calls):
        call(n)
    return (time.process_time() - c0) / calls


def _measure(callers: dict[str, Caller], rounds: int, calls: int) -> dict[str, list[float]]:
    """CPU seconds per call of each caller in each round, rounds alternating between them."""
    cpu: dict[str, list[float]] = {name: [] for name in callers}
    n = 1_000_000
    for _ in range(rounds):
        for name, call in callers.items():
            cpu[name].append(_round(call, n, calls))
            n += calls
    return cpu


def main(argv: list[str] | None = None) -> None:
    """Run both measurements and print them (``--json`` for machine-readable output)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=300, help="calls per round")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument(
        "--detectors", default="email,phone", help="what the rule redacts (email,phone or email)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = tuple(args.detectors.split(","))

    from router import Router
    from router.types import ChatRequest

    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_server", "--port", "0"], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        url = f"http://127.0.0.1:{port}/v1"
        routers = {
            name: Router(config(url, redact=name == "redact", detectors=names))
            for name in ("plain", "redact")
        }

        def chat(r: Router) -> Caller:
            return lambda n: r.chat([{"role": "user", "content": message(n)}])

        def decide(r: Router) -> Caller:
            policy = r._core.policy
            return lambda n: policy.decide(
                ChatRequest.model_validate({"messages": [{"role": "user", "content": message(n)}]})
            )

        # The decision must differ only by the redaction: check it once.
        probe = {k: decide(r) for k, r in routers.items()}
        assert probe["plain"](0).redaction is None
        red = probe["redact"](0).redaction
        assert red is not None
        assert dict(red.detectors) == {
            k: v for k, v in {"email": 3, "phone": 2}.items() if k in names
        }
        for r in routers.values():  # warm up: imports, pools, first-use loads
            for n in range(30):
                r.chat([{"role": "user", "content": message(n)}])
        results = {
            "chat": _measure({k: chat(r) for k, r in routers.items()}, args.rounds, args.calls),
            "decide": _measure(
                {k: decide(r) for k, r in routers.items()}, args.rounds, args.calls * 3
            ),
        }
        for r in routers.values():
            r.close()
    finally:
        server.terminate()
        server.wait()
    report = {}
    for what, cpu in results.items():
        # Each round's two routers ran back to back: their difference is what the
        # shared machine's drift between rounds moves least.
        added = sorted((r - p) * 1e6 for r, p in zip(cpu["redact"], cpu["plain"], strict=True))
        report[what] = {
            "cpu_us": {k: statistics.median(v) * 1e6 for k, v in cpu.items()},
            "added_us": statistics.median(added),
            "added_range_us": [added[0], added[-1]],
        }
    if args.json:
        print(json.dumps(report))
        return
    spans = sum({"email": 3, "phone": 2}.get(n, 0) for n in names)
    print(
        f"{MESSAGE_BYTES}-byte message, {spans} spans redacted ({args.detectors}); "
        f"{args.rounds} rounds of {args.calls}"
    )
    for what, r in report.items():
        cpu = r["cpu_us"]
        low, high = r["added_range_us"]
        print(
            f"  {what:<7} plain {cpu['plain']:8.1f} us  redact {cpu['redact']:8.1f} us  "
            f"added {r['added_us']:6.1f} us ({low:.0f} to {high:.0f})  (CPU per call, medians of "
            "rounds; added: each round's pair; target <= 30 us)"
        )


if __name__ == "__main__":
    main()
