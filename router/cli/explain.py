"""``llm-router explain CONFIG``: decide one request offline and show why."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from ._args import finite_float, key_value, non_negative_float, positive_int, read_json

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
    p.add_argument("--max-cost", type=non_negative_float, help="per-request cost ceiling in USD")
    p.add_argument("--min-quality", type=non_negative_float)
    p.add_argument("--max-tokens", type=positive_int)
    p.add_argument(
        "--temperature", type=finite_float, help="the call's temperature (the response cache)"
    )
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        type=key_value,
        metavar="K=V",
        help="context metadata",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--message", help="the user message")
    src.add_argument(
        "--input",
        action="append",
        help="an embedding request's input (repeatable: one per input)",
    )
    src.add_argument(
        "--file",
        help="a request as JSON: {messages: [...], <chat params>..., context: {...}}, "
        "or an embedding request: {input: [...], dimensions: N, ..., context: {...}}",
    )
    p.add_argument("--json", action="store_true", help="print the Decision as JSON")
    p.add_argument(
        "--live",
        action="store_true",
        help="read the config's state store as a call would: open breakers and targets "
        "at a rate limit (reads the store, sends nothing)",
    )
    p.set_defaults(func=run)


def _request_file(path: str) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The chat body, the context and the model of a ``--file`` request."""
    from ..errors import ConfigError

    body = read_json(path, "request")
    if not isinstance(body, dict):
        raise ConfigError(
            "expected a JSON object: {messages: [...], <chat params>..., context: {...}}",
            file=path,
        )
    ctx = body.pop("context", None)
    if ctx is not None and not isinstance(ctx, Mapping):
        raise ConfigError("must be a JSON object", file=path, key="context")
    model = body.pop("model", None)
    if model is not None and not isinstance(model, str):
        raise ConfigError("must be a string", file=path, key="model")
    return body, dict(ctx or {}), model


def _live(config: str, request: Any, ctx: Any, model: str) -> Any:
    """The Decision a call would get now: the snapshot read from the config's store."""
    from ..client import Router
    from ..state.program import run as run_program

    with Router.from_file(config) as r:
        return run_program(r._core.decide_steps(request, ctx, model), r.store)


def run(args: argparse.Namespace) -> int:
    """Execute ``explain``: 0 when a plan exists, 1 when the request is refused."""
    from pydantic import ValidationError

    from ..config.loader import load_policy
    from ..errors import NoEligibleTarget, RequestError, request_error
    from ..policy import Snapshot
    from ..types import ChatRequest, RequestContext

    body: dict[str, Any]
    ctx_raw: dict[str, Any] = {}
    if args.file:
        body, ctx_raw, file_model = _request_file(args.file)
        if file_model and args.model == "default":
            args.model = file_model
    elif args.input:
        body = {"input": args.input}
    else:
        body = {"messages": [{"role": "user", "content": args.message}]}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        body["temperature"] = args.temperature
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
        tags = ctx_raw.get("tags") or []
        ctx_raw["tags"] = [*(tags if isinstance(tags, list) else [tags]), *args.tag]
    if args.meta:
        meta = ctx_raw.get("metadata") or {}
        if isinstance(meta, Mapping):  # else validation says what is wrong with it
            ctx_raw["metadata"] = {**meta, **dict(args.meta)}
    embeds = "input" in body
    if not embeds:
        try:
            request = ChatRequest.model_validate(body)
        except ValidationError as e:
            raise request_error(e) from None
    try:
        ctx = RequestContext.model_validate(ctx_raw)
    except ValidationError as e:
        raise request_error(e, "context") from None
    _, policy = load_policy(args.config)
    status = 0
    snap = Snapshot(request_id="explain")
    try:
        if embeds:
            from ..embeddings import decide as embedding

            inputs = body.pop("input")
            try:
                req = embedding.request(inputs, body)
            except TypeError as e:  # a chat parameter, or input of the wrong shape
                raise RequestError(str(e)) from None
            chat = embedding.as_chat(req)
            decision = embedding.policy_decision(policy, req, chat, ctx, snap, args.model)
        elif args.live:
            decision = _live(args.config, request, ctx, args.model)
        else:
            decision = policy.decide(request, ctx, snap, model=args.model)
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
