"""Policy decision time alone: ``Policy.decide`` with 20 targets, 30 rules, a 2 KB message.

The config is the router benchmark's (``configs/router.yaml``: 10 targets,
20 rules) plus 10 more targets and 10 more rules, built here as config data
and validated like any config. ``decide`` is timed twice: on the same
message every call (as a conversation's history and system prompt are sent
again each turn, so the detectors' memo answers), and on a message never
seen before (every detector scans it). Also timed: the facade's whole
non-I/O path per call (validate the call, snapshot, decide, reserve against
budgets, set up the walk, then parse a canned reply, settle and write the
ledger record).

``python -m benchmarks.policy_bench [--n 5000]`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from typing import Any

from .clients import CONTEXT, ROUTE, SYSTEM, config_path
from .fake_server import pin
from .worker import percentile

__all__ = ["bench_config", "main", "message_2kb"]


def message_2kb() -> str:
    """About 2 KB of ordinary support-ticket text, with nothing a detector should flag."""
    para = (
        "Customer reports that the parcel for order 58213 has not moved since the label was "
        "created last Tuesday. They would like to know the expected ship date, whether express "
        "delivery is still possible, and if the delivery address can be changed to their office "
        "on the third floor. They mention that a previous order arrived damaged and ask for "
        "extra padding this time. "
    )
    text = ""
    while len(text) < 2048:
        text += para
    return text[:2048]


def bench_config() -> dict[str, Any]:
    """The 20-target, 30-rule policy, as config data."""
    from router.config.loader import parse_yaml

    os.environ.setdefault("BENCH_BASE_URL", "http://127.0.0.1:9/v1")
    with open(config_path(), encoding="utf-8") as f:
        data, _ = parse_yaml(f.read(), config_path())
    data = copy.deepcopy(data)
    models = data["models"]
    for name in list(models)[:10]:
        twin = dict(models[name])
        twin["model"] = twin["model"] + "-v2"
        models[name + "-v2"] = twin
    extra_rules = [
        {"name": "gov-local-only", "when": {"tenant": "gov"}, "allow": {"zone": ["local"]}},
        {
            "name": "health-data",
            "when": {"tags": {"any": ["health"]}},
            "allow": {"region": ["eu"]},
            "deny": {"data_retention": ["standard"]},
        },
        {
            "name": "beta-users-cheap",
            "when": {"user": {"in": ["b1", "b2"]}},
            "limit": {"max_cost_usd": 0.01},
        },
        {
            "name": "no-groq-for-finance",
            "when": {"tags": {"any": ["finance"]}},
            "deny": {"provider": ["groq"]},
        },
        {
            "name": "legal-best-quality",
            "when": {"metadata": {"team": "legal"}},
            "limit": {"min_quality": 80},
        },
        {
            "name": "json-needs-schema",
            "when": {"metadata": {"format": "json"}},
            "require": ["json_schema"],
        },
        {
            "name": "eu-customers",
            "when": {"metadata": {"region": "eu"}},
            "allow": {"region": ["eu"]},
        },
        {
            "name": "sales-budget",
            "when": {"tenant": "sales"},
            "budget": {"usd": 50, "per": "day", "key": "tenant"},
        },
        {
            "name": "no-closed-for-oss",
            "when": {"tags": {"any": ["oss"]}},
            "deny": {"openness": ["closed"]},
        },
        {
            "name": "internal-max-output",
            "when": {"sensitivity": ">= internal"},
            "limit": {"max_output_tokens": 2048},
        },
    ]
    data["rules"] = list(data["rules"]) + extra_rules
    data["routes"][ROUTE]["candidates"] = list(data["routes"][ROUTE]["candidates"]) + [
        n + "-v2" for n in data["routes"][ROUTE]["candidates"]
    ]
    return data


def _time(fn: Any, n: int) -> dict[str, float]:
    for _ in range(min(200, n)):
        fn()
    times = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        fn()
        times.append((pc() - t0) / 1000)
    return {"n": n, "p50_us": percentile(times, 50), "p99_us": percentile(times, 99)}


def run(n: int) -> dict[str, Any]:
    """Time decide() and the facade's non-I/O path."""
    import router
    from router.config import load_dict
    from router.policy import Policy, Snapshot
    from router.types import ChatRequest, RequestContext

    config = load_dict(bench_config())
    policy = Policy(config)
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": message_2kb()},
    ]
    request = ChatRequest.model_validate({"messages": messages, "max_tokens": 128})
    context = RequestContext.model_validate(CONTEXT)
    snapshot = Snapshot(now=1767225600.0, request_id="bench")
    decision = policy.decide(request, context, snapshot, model=ROUTE)

    fresh = [
        ChatRequest.model_validate(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    # Same length, new text: the detectors' memo cannot answer.
                    {"role": "user", "content": f"{i:08d} " + message_2kb()[9:]},
                ],
                "max_tokens": 128,
            }
        )
        for i in range(n + min(200, n))
    ]
    unseen = iter(fresh)

    r = router.Router(config)
    core = r._core
    from router.execution.walker import Send
    from router.providers.openai_compatible import OpenAICompatibleAdapter

    from .fake_server import _json_body

    adapter, body = OpenAICompatibleAdapter(), _json_body()

    def facade() -> None:
        call = core.start(messages, ROUTE, CONTEXT, {"max_tokens": 128})
        step = call.walker.next()
        assert isinstance(step, Send)
        call.walker.succeeded(step, 0.001, final=True)
        core.finish(call, adapter.parse_response(body), step.target)

    return {
        "targets": len(config.models),
        "rules": len(config.rules),
        "message_bytes": len(message_2kb().encode()),
        "plan": [t.name for t in decision.plan],
        "decide": _time(lambda: policy.decide(request, context, snapshot, model=ROUTE), n),
        "decide_unseen": _time(
            lambda: policy.decide(next(unseen), context, snapshot, model=ROUTE), n
        ),
        "facade": _time(facade, n),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)
    pin(args.cpu)
    json.dump(run(args.n), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
