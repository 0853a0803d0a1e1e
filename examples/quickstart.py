"""Quickstart: one client, sync and async, plain and streamed, on the embedded local model.

Run after `bash scripts/install.sh`:  python examples/quickstart.py
Uses the built-in default config (SmolLM2 in process, zone local) — no server, no key.
"""

from __future__ import annotations

import asyncio

from router import AsyncRouter, RequestContext, Router
from router.config.defaults import default_config

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def sync_demo() -> None:
    with Router.from_dict(default_config()) as r:
        resp = r.chat(QUESTION, temperature=0, context=RequestContext(tenant="demo"))
        route = resp.route
        assert route is not None and resp.usage is not None
        print("chat:  ", resp.content)
        print(
            "        route",
            route.route,
            "->",
            route.target,
            "| zone",
            route.zone,
            "| tokens",
            resp.usage.total_tokens,
            "| attempts",
            len(route.attempts),
        )
        print("stream: ", end="")
        with r.stream(QUESTION, temperature=0) as s:
            for chunk in s:
                print(chunk.delta_text, end="", flush=True)
        print()
        print("        usage estimated:", s.response.usage and s.response.usage.estimated)
        print(r.explain(QUESTION).explain())


async def async_demo() -> None:
    async with AsyncRouter.from_dict(default_config()) as r:
        resp = await r.chat(QUESTION, temperature=0)
        print("async:  ", resp.content)
        async with r.stream(QUESTION, temperature=0) as s:
            text = "".join([c.delta_text async for c in s])
        print("astream:", text)


if __name__ == "__main__":
    sync_demo()
    asyncio.run(async_demo())
