"""``llm-router chat``: send one message through the router and print the answer."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ._args import finite_float, positive_int

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``chat`` subcommand."""
    p = sub.add_parser("chat", help="send one message and print the answer and its route")
    p.add_argument("message", help="the user message")
    p.add_argument("--config", "-c", help="config file (default: the built-in embedded model)")
    p.add_argument("--model", "-m", default="default", help="route or model name")
    p.add_argument("--system", help="a system prompt")
    p.add_argument("--stream", action="store_true", help="print tokens as they arrive")
    p.add_argument("--max-tokens", type=positive_int, default=None)
    p.add_argument("--temperature", type=finite_float, default=0.0)
    p.add_argument("--tenant")
    p.add_argument("--user")
    p.add_argument("--sensitivity")
    p.add_argument("--json", action="store_true", help="print the whole response as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``chat``."""
    from ..client import Router
    from ..config.defaults import default_config
    from ..types import RequestContext

    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.message})
    params: dict[str, Any] = {"temperature": args.temperature}
    if args.max_tokens:
        params["max_tokens"] = args.max_tokens
    ctx = RequestContext(tenant=args.tenant, user=args.user, sensitivity=args.sensitivity)
    router = Router.from_file(args.config) if args.config else Router.from_dict(default_config())
    t0 = time.perf_counter()
    with router:
        if args.stream:
            with router.stream(messages, model=args.model, context=ctx, **params) as s:
                for chunk in s:
                    sys.stdout.write(chunk.delta_text)
                    sys.stdout.flush()
                resp = s.response
            sys.stdout.write("\n")
            sys.stdout.flush()
        else:
            resp = router.chat(messages, model=args.model, context=ctx, **params)
            if not args.json:
                print(resp.content or "")
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps(resp.model_dump(), indent=2))
        return 0
    route, usage = resp.route, resp.usage
    assert route is not None and usage is not None
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens} tokens"
    if usage.estimated:
        tokens += " (estimated)"
    print(
        f"[route {route.route} → {route.target} · zone {route.zone} · {tokens} · "
        f"${route.cost_usd:.6f} · {elapsed:.2f}s · {len(route.attempts)} attempt(s)]",
        file=sys.stderr,
    )
    return 0
