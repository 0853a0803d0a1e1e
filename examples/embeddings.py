"""Embeddings under the policy: a small semantic search on the embedded local model.

Run after `bash scripts/install.sh`:  python examples/embeddings.py
Uses the built-in default config (its ``embeddings`` route: SmolLM2 in process,
mean-pooled, zone local) — no server, no key. Then shows what the policy does
with a document holding an email address when a hosted embedding model is also
on the route: the whole batch stays local (``explain_embed`` sends nothing).
"""

from __future__ import annotations

import asyncio
import math

from router import AsyncRouter, Router
from router.config.defaults import default_config

DOCS = [
    "The cat sat on the mat.",
    "Quarterly revenue rose by eight percent.",
    "Our office is closed on public holidays.",
    "Sales grew 8% this quarter.",
]
QUERY = "How did sales do last quarter?"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def search() -> None:
    with Router.from_dict(default_config()) as r:
        resp = r.embed([QUERY, *DOCS], model="embeddings")
        assert resp.route is not None
        query, *docs = resp.vectors
        print(
            f"embedded {len(resp.data)} texts on {resp.route.target} (zone {resp.route.zone}):",
            f"{len(query)} dimensions, {resp.usage.prompt_tokens} input tokens,",
            f"${resp.route.cost_usd:.2f}",
        )
        ranked = sorted(zip(DOCS, docs, strict=True), key=lambda d: -cosine(query, d[1]))
        print(f"query: {QUERY!r}")
        for text, vec in ranked:
            print(f"  {cosine(query, vec):.3f}  {text}")


async def search_async() -> None:
    async with AsyncRouter.from_dict(default_config()) as r:
        resp = await r.embed(QUERY, model="embeddings")
        print("async: one vector of", len(resp.data[0].embedding), "dimensions")


def policy() -> None:
    cfg = default_config()
    # A hosted embedding model first on the route; confidential data may not go there.
    cfg["providers"]["hosted"] = {
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": "sk-example",
    }
    cfg["models"]["hosted-embed"] = {
        "provider": "hosted",
        "model": "text-embedding-3-small",
        "capabilities": ["embeddings"],
        "price": {"input": 0.02, "output": 0},
    }
    cfg["routes"]["embeddings"] = {"candidates": ["hosted-embed", "smollm2-embed"]}
    cfg["rules"] = [
        {
            "name": "confidential-stays-local",
            "when": {"sensitivity": ">= confidential"},
            "allow": {"zone": ["local"]},
        }
    ]
    with Router.from_dict(cfg) as r:
        public = r.explain_embed(DOCS, model="embeddings")
        private = r.explain_embed([*DOCS, "Write to jane.doe@example.com"], model="embeddings")
    print("public batch plan:      ", ", ".join(public.target_names))
    print("batch with an email:    ", ", ".join(private.target_names), "(the whole batch)")
    print(private.explain())


if __name__ == "__main__":
    search()
    asyncio.run(search_async())
    policy()
