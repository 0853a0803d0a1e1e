"""Serve repeated questions from the response cache, per tenant, within policy.

A tiny OpenAI-compatible server on 127.0.0.1 plays a paid API (it counts the
requests it receives; no real provider is contacted). Two routers share one
SQLite state file, as two processes of a deployment would:

- the first asks a question: a miss, sent and paid for, then cached;
- the second asks it again: a hit — nothing sent, cost 0, recorded as a hit;
- streamed, the cached answer is streamed;
- another tenant asking the same words is never served the first one's entry;
- a confidential request is never cached (a rule says ``cache: false``);
- ``explain`` says whether the cache applies and what it holds.

    python examples/response_cache.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local_openai import serve

from router import Router
from router.accounting.ledger import read_ledger

FAQ = [{"role": "user", "content": "What are your opening hours?"}]
calls = 0


def config(base: str, state: str) -> dict[str, Any]:
    return {
        "providers": {"paid": {"kind": "openai_compatible", "base_url": f"{base}/ok/v1"}},
        "models": {
            "gpt": {"provider": "paid", "model": "gpt-demo", "price": {"input": 2.0, "output": 8.0}}
        },
        "routes": {
            "faq": {
                "candidates": ["gpt"],
                # ten minutes, at most 10,000 answers; calls with temperature 0 only
                "cache": {"ttl_s": 600, "max_entries": 10_000},
            }
        },
        "rules": [
            {
                "name": "never-cache-confidential",
                "when": {"sensitivity": ">= confidential"},
                "cache": False,
            }
        ],
        "state": state,
        "telemetry": {"enabled": False},
    }


def show(label: str, reply: Any) -> None:
    r = reply.route
    global calls
    calls += 1
    print(f"{label:<40} cache={r.cache!s:<5} cost=${r.cost_usd:.6f}  {reply.content!r}")


def main() -> None:
    server, base = serve()
    sent = 0
    handle = server.RequestHandlerClass.do_POST

    def counting(self: Any) -> None:  # the stand-in API counts what reaches it
        nonlocal sent
        sent += 1
        handle(self)

    server.RequestHandlerClass.do_POST = counting  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(base, f"sqlite:///{tmp}/state.db")
        acme = {"tenant": "acme"}
        with Router(cfg) as one, Router(cfg) as two:
            print(one.explain(FAQ, model="faq", temperature=0, context=acme).explain())
            print()
            show("process 1, acme:", one.chat(FAQ, model="faq", temperature=0, context=acme))
            show(
                "process 2, acme (same words):",
                two.chat(FAQ, model="faq", temperature=0, context=acme),
            )
            with two.stream(FAQ, model="faq", temperature=0, context=acme) as s:
                chunks = list(s)
            show(f"process 2, acme, streamed ({len(chunks)} chunks):", s.response)
            show(
                "process 2, globex (same words):",
                two.chat(FAQ, model="faq", temperature=0, context={"tenant": "globex"}),
            )
            show(
                "process 2, acme, temperature 0.7:",
                two.chat(FAQ, model="faq", temperature=0.7, context=acme),
            )
            secret = {"tenant": "acme", "sensitivity": "confidential"}
            for i in (1, 2):
                show(
                    f"confidential, try {i}:",
                    two.chat(FAQ, model="faq", temperature=0, context=secret),
                )
            d = two.explain(FAQ, model="faq", temperature=0, context=secret)
            print(f"\nexplain, confidential: cache: {d.cache_note}")
            d = two.explain(FAQ, model="faq", temperature=0, context=acme)
            print(f"explain, acme:         cache: {d.cache_note}")
            print(f"\nthe paid API received {sent} requests for {calls} calls")
            print("\nledger:")
            for rec in read_ledger(two.store):
                print(f"  tenant={rec.tenant!s:<7} cache={rec.cache!s:<5} cost=${rec.cost_usd:.6f}")
    server.shutdown()


if __name__ == "__main__":
    main()
