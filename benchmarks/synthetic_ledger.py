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
TRIP, RESUME = 16.4, 17.5  # the guard rolls LOCAL back on day 16; an operator resumes it
GUARD = {
    "model": LOCAL,
    "baseline": "gpt-4.1",
    "metric": "error_rate",
    "max_ratio": 2,
    "window_s": 600,
    "min_samples": 20,
}


def config(state: str = "memory", shadow_log: str | None = None) -> dict[str, Any]:
    """The config the synthetic ledger was priced with (a daily budget per tenant).

    ``support-bot`` ramps to the self-hosted model under a guard; with
    ``shadow_log`` it also shadows 5% of its requests there.
    """
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
                "guard": GUARD,
                **(
                    {"shadow": {"model": LOCAL, "sample_pct": 5, "log": shadow_log}}
                    if shadow_log
                    else {}
                ),
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
                rolled_back = START + TRIP * 86_400 <= ts < START + RESUME * 86_400
                target = LOCAL if rng.random() < share and not rolled_back else "gpt-4.1"
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


def write_demo(out: Path, n: int = 20_000, *, pairs: int = 400, seed: int = 7) -> Path:
    """A directory with ``ledger.jsonl``, a SQLite store (ledger, guard trip and
    resume, shadow aggregates), ``shadow.jsonl`` and ``router.yaml``; returns the config."""
    from router.migration.compare import save_pair
    from router.migration.guard import record_attempts, resume
    from router.state import open_store
    from router.types import Attempt

    out.mkdir(parents=True, exist_ok=True)
    recs = records(n, seed)
    with (out / "ledger.jsonl").open("w", encoding="utf-8") as f:
        for r in recs:
            f.write(r.to_json() + "\n")
    state = f"sqlite:///{(out / 'state.db').resolve()}"
    log = str((out / "shadow.jsonl").resolve())
    cfg = config(state, log)
    path = out / "router.yaml"
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    from router.config import load_dict

    route = load_dict(cfg).routes["support-bot"]
    store = open_store(state)
    try:
        for r in recs:
            store.ledger_append(r.to_json(), ts=r.ts)
        # The self-hosted arm fails a third of its calls for ten minutes: the guard trips.
        trip_at = START + TRIP * 86_400
        for k in range(60):
            ok = k % 3 != 0
            attempts = [
                Attempt(target=LOCAL, outcome="ok" if ok else "error", latency_s=0.6),
                Attempt(target="gpt-4.1", outcome="ok", latency_s=0.9),
            ]
            record_attempts(store, "support-bot", route, attempts, trip_at - 300 + 5 * k)
        resume(store, "support-bot", LOCAL, START + RESUME * 86_400)
        rng = random.Random(seed)
        (out / "shadow.jsonl").unlink(missing_ok=True)
        for k in range(pairs):
            p_tok, s_tok = int(rng.lognormvariate(6.8, 0.5)), int(rng.lognormvariate(6.8, 0.5))
            primary = {
                "target": "gpt-4.1",
                "latency_s": rng.lognormvariate(-0.1, 0.4),
                "prompt_tokens": p_tok - 200,
                "completion_tokens": 200,
                "cost_usd": ((p_tok - 200) * 2.0 + 200 * 8.0) / 1e6,
                "finish_reason": "stop",
                "chars": 800 + rng.randrange(400),
            }
            shadow = {
                **primary,
                "target": LOCAL,
                "latency_s": rng.lognormvariate(-0.5, 0.5),
                "prompt_tokens": s_tok - 200,
                "cost_usd": 0.0,
                "finish_reason": "stop" if rng.random() < 0.95 else "length",
            }
            record = {
                "ts": START + RAMP_START * 86_400 + k * 3000.0,
                "route": "support-bot",
                "decision_id": f"d{k}",
                "primary": primary,
                "shadow": shadow,
                "exact_match": rng.random() < 0.1,
                "similarity": round(min(1.0, rng.betavariate(6, 2)), 4),
            }
            save_pair(store, record, log)
    finally:
        store.close()
    return path


def main() -> None:
    """Write the demo directory (see :func:`write_demo`)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--records", type=int, default=20_000)
    args = ap.parse_args()
    write_demo(args.out, args.records)


if __name__ == "__main__":
    main()
