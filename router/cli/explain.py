"""``llm-router explain CONFIG``: decide one request offline and show why."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``explain`` subcommand."""
    p = sub.add_parser("explain", help="show where a request would go and why (no network)")
    p.add_argument("config", help="config file (YAML)")
    p.add_argument("--model", "-m", default="default", help="route or model name")
    p.add_argument("--tenant")
    p.add_argument("--user")
    p.add_argument("--sensitivity", help="declared sensitivity level")
    p.add_argument("--tag", action="append", default=[], help="a context tag (repeatable)")
    p.add_argument("--max-cost", type=float, help="per-request cost ceiling in USD")
    p.add_argument("--min-quality", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--meta", action="append", default=[], metavar="K=V", help="context metadata")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--message", help="the user message")
    src.add_argument(
        "--file", help="a request as JSON: {messages: [...], <chat params>..., context: {...}}"
    )
    p.add_argument("--json", action="store_true", help="print the Decision as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``explain``: 0 when a plan exists, 1 when the request is refused."""
    from ..config import load_file
    from ..errors import NoEligibleTarget
    from ..policy import Policy, Snapshot
    from ..types import ChatRequest, RequestContext

    body: dict[str, Any]
    ctx_raw: dict[str, Any] = {}
    if args.file:
        body = json.loads(Path(args.file).read_text(encoding="utf-8"))
        ctx_raw = dict(body.pop("context", None) or {})
        file_model = body.pop("model", None)
        if file_model and args.model == "default":
            args.model = str(file_model)
    else:
        body = {"messages": [{"role": "user", "content": args.message}]}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    for key, value in (
        ("tenant", args.tenant),
        ("user", args.user),
        ("sensitivity", args.sensitivity),
        ("max_cost_usd", args.max_cost),
        ("min_quality", args.min_quality),
    ):
        if value is not None:
            ctx_raw[key] = value
    if args.tag:
        ctx_raw["tags"] = [*ctx_raw.get("tags", []), *args.tag]
    if args.meta:
        meta = dict(ctx_raw.get("metadata") or {})
        for kv in args.meta:
            k, _, v = kv.partition("=")
            meta[k] = v
        ctx_raw["metadata"] = meta
    request = ChatRequest.model_validate(body)
    ctx = RequestContext.model_validate(ctx_raw)
    policy = Policy(load_file(args.config))
    status = 0
    try:
        decision = policy.decide(request, ctx, Snapshot(request_id="explain"), model=args.model)
    except NoEligibleTarget as e:
        decision, status = e.decision, 1
        if decision is None:
            raise
    if args.json:
        out = decision.to_dict()
        out["denied"] = bool(status)
        print(json.dumps(out, indent=2))
    else:
        print(decision.explain())
    if status:
        print("refused: no eligible target", file=sys.stderr)
    return status
