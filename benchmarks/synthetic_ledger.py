"""A synthetic but realistic ledger and the config that priced it, for reports.

Thirty UTC days of traffic from a few tenants on three routes: weekday peaks,
lognormal token counts, four models in two zones, and the ``support-bot``
route ramping from a paid API to a self-hosted model over two weeks. Used by
``benchmarks/report_html.py`` (a million rows), the HTML report tests and the
README screenshot (``python -m benchmarks.synthetic_ledger OUT_DIR``).
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from router.accounting import LedgerRecord

START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
DAYS = 30
TENANTS = ("support", "search", "marketing", "legal", "data-science", "sales")
# target: (provider, zone, $/M input, $/M output)
PAID = {
    "gpt-4.1": ("openai", "frontier", 2.0, 8.0),
    "claude-sonnet": ("anthropic", "frontier", 3.0, 15.0),
    "gpt-4.1-mini": ("openai", "frontier", 0.4, 1.6),
}
LOCAL = "llama-70b-local"
GPU_HOUR_USD, TOKENS_PER_SECOND = 4.0, 2500.0
ROUTES = {"support-bot": ("gpt-4.1",), "search": ("gpt-4.1-mini", "claude-sonnet"), "summarise": ()}
RAMP_START, RAMP_END = 9, 23  # support-bot moves to LOCAL between these days (0 to 60%)


def config(state: str = "memory") -> dict[str, Any]:
    """The config the synthetic ledger was priced with (a daily budget per tenant)."""
    base = "http://127.0.0.1:9/v1"
    models: dict[str, Any] = {
        name: {
            "provider": provider,
            "model": name,
            "price": {"input": pin, "output": pout},
        }
        for name, (provider, _, pin, pout) in PAID.items()
    }
    models[LOCAL] = {
        "provider": "gpu-box",
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "cost": {"gpu_hour_usd": GPU_HOUR_USD, "tokens_per_second": TOKENS_PER_SECOND},
    }
    return {
        "providers": {
            "openai": {"kind": "openai_compatible", "base_url": base, "zone": "frontier"},
            "anthropic": {"kind": "openai_compatible", "base_url": base, "zone": "frontier"},
            "gpu-box": {"kind": "openai_compatible", "base_url": base, "zone": "local"},
        },
        "models": models,
        "routes": {
            "support-bot": {
                "split": [{"model": LOCAL, "weight": 0}, {"model": "gpt-4.1", "weight": 100}],
                "ramp": {
                    "model": LOCAL,
                    "from_pct": 0,
                    "to_pct": 60,
                    "start": _iso(RAMP_START),
                    "end": _iso(RAMP_END),
                },
            },
            "search": {"candidates": ["gpt-4.1-mini", "claude-sonnet"]},
            "summarise": {"candidates": ["claude-sonnet", "gpt-4.1"]},
        },
        "rules": [{"name": "tenant-daily", "budget": {"usd": 10, "per": "day", "key": "tenant"}}],
        "state": state,
    }


def _iso(day: int) -> str:
    return datetime.fromtimestamp(START + day * 86_400, UTC).strftime("%Y-%m-%d")


def records(n: int, seed: int = 7) -> list[LedgerRecord]:
    """``n`` ledger records spread over :data:`DAYS` days, oldest first."""
    rng = random.Random(seed)
    # Weekdays carry about three times the weekend's traffic.
    weights = [3.0 if (d + 6) % 7 < 5 else 1.0 for d in range(DAYS)]
    total = sum(weights)
    out: list[LedgerRecord] = []
    i = 0
    for d in range(DAYS):
        share = 0.0
        if d >= RAMP_START:
            share = 0.6 * min(1.0, (d - RAMP_START) / (RAMP_END - RAMP_START))
        count = round(n * sum(weights[: d + 1]) / total) - i
        for _ in range(count):
            ts = START + d * 86_400 + rng.random() * 86_400
            route = rng.choices(("support-bot", "search", "summarise"), (5, 3, 2))[0]
            if route == "support-bot":
                target = LOCAL if rng.random() < share else "gpt-4.1"
            elif route == "search":
                target = rng.choices(("gpt-4.1-mini", "claude-sonnet"), (4, 1))[0]
            else:
                target = rng.choice(("claude-sonnet", "gpt-4.1"))
            p = int(rng.lognormvariate(6.6, 0.6))
            c = int(rng.lognormvariate(5.5, 0.7))
            if target == LOCAL:
                provider, zone, cost = "gpu-box", "local", 0.0
                amortised = (p + c) * GPU_HOUR_USD / 3600 / TOKENS_PER_SECOND
            else:
                provider, zone, pin, pout = PAID[target]
                cost, amortised = (p * pin + c * pout) / 1e6, None
            out.append(
                LedgerRecord(
                    ts=ts,
                    request_id=f"r{i}",
                    route=route,
                    target=target,
                    model=target,
                    provider=provider,
                    zone=zone,
                    tenant=rng.choices(TENANTS, (6, 4, 2, 1, 2, 1))[0],
                    user=f"u{rng.randrange(400)}",
                    prompt_tokens=p,
                    completion_tokens=c,
                    cost_usd=cost,
                    amortised_cost_usd=amortised,
                    estimated=rng.random() < 0.01,
                )
            )
            i += 1
    out.sort(key=lambda r: r.ts)
    return out


def main() -> None:
    """Write ``ledger.jsonl`` and ``router.yaml`` into a directory."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--records", type=int, default=20_000)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "ledger.jsonl").open("w", encoding="utf-8") as f:
        for r in records(args.records):
            f.write(r.to_json() + "\n")
    state = f"sqlite:///{(args.out / 'state.db').resolve()}"
    (args.out / "router.yaml").write_text(json.dumps(config(state), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
