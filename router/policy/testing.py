"""Policy tests as data: a YAML list of requests and what the policy must decide.

A tests document::

    tests:
      - name: confidential data stays home
        message: "Customer jane@example.com asks about her invoice"   # or messages: [...]
                                       # or input: [...] (an embedding request)
        model: default                 # route (default: "default")
        context: {tenant: acme, sensitivity: internal, tags: [audit]}
        params: {max_tokens: 200}      # chat parameters (tools, response_format, ...);
                                       # with input: dimensions, encoding_format, user
        snapshot: {latency_ms: {gpt: 900}, unavailable: [local]}
        expect:
          target: llama-local          # the primary target
          plan: [llama-local, llama-gpu2]   # the exact plan
          not_planned: [gpt]           # none of these may be planned
          excluded: {gpt: "allow zone"}     # reason substrings per target
          sensitivity: confidential
          matched_rules: [confidential-stays-home]
          denied: true                 # NoEligibleTarget (fail closed)

Nothing here touches the network: cases only run the pure decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.schema import Config
from ..errors import ConfigError, NoEligibleTarget, RouterError
from ..types import ChatRequest, RequestContext
from .decision import Decision
from .engine import Policy
from .snapshot import Snapshot

__all__ = ["CaseResult", "load_cases", "run_case", "run_file"]

_CASE_KEYS = {
    "name",
    "message",
    "messages",
    "input",
    "model",
    "context",
    "params",
    "snapshot",
    "expect",
}
_REQUEST_KEYS = ("message", "messages", "input")
_EXPECT_KEYS = {
    "target",
    "plan",
    "not_planned",
    "excluded",
    "sensitivity",
    "matched_rules",
    "denied",
}
_SNAPSHOT_KEYS = frozenset({"now", "request_id", "latency_ms", "unavailable"})


@dataclass
class CaseResult:
    """The outcome of one case: ``failures`` is empty when it passed."""

    name: str
    failures: list[str] = field(default_factory=list)
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """The cases of a tests file (YAML, safe loader); ConfigError when malformed."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=str(path)) from None
    cases = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not cases:
        raise ConfigError("expected a non-empty 'tests:' list", file=str(path))
    for i, c in enumerate(cases):
        where = f"tests.{i}"
        if not isinstance(c, dict):
            raise ConfigError("a case is a mapping", file=str(path), key=where)
        unknown = set(c) - _CASE_KEYS
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=str(path), key=where)
        exp = c.get("expect")
        if not isinstance(exp, dict) or not exp:
            raise ConfigError("a case needs an 'expect' mapping", file=str(path), key=where)
        bad = set(exp) - _EXPECT_KEYS
        if bad:
            raise ConfigError(
                f"unknown expectation(s) {sorted(bad)}; known: {sorted(_EXPECT_KEYS)}",
                file=str(path),
                key=f"{where}.expect",
            )
        snap = c.get("snapshot") or {}
        odd = set(snap) - _SNAPSHOT_KEYS if isinstance(snap, dict) else {"(not a mapping)"}
        if odd:
            raise ConfigError(
                f"unknown snapshot key(s) {sorted(odd)}; known: {sorted(_SNAPSHOT_KEYS)}",
                file=str(path),
                key=f"{where}.snapshot",
            )
        if sum(k in c for k in _REQUEST_KEYS) != 1:
            raise ConfigError(
                "give one of 'message', 'messages' or 'input'", file=str(path), key=where
            )
    return cases


def _request(case: Mapping[str, Any]) -> ChatRequest:
    messages = case.get("messages") or [{"role": "user", "content": str(case["message"])}]
    return ChatRequest.model_validate({"messages": messages, **(case.get("params") or {})})


def _embedding_decision(
    policy: Policy, case: Mapping[str, Any], ctx: RequestContext, snap: Snapshot, model: str
) -> Decision:
    """The Decision ``Router.explain_embed`` would give an ``input:`` case."""
    from ..embeddings import decide as embedding  # loaded only by files with such cases

    req = embedding.request(case["input"], case.get("params") or {})
    return embedding.policy_decision(policy, req, embedding.as_chat(req), ctx, snap, model)


def _snapshot(raw: Mapping[str, Any] | None, name: str) -> Snapshot:
    raw = raw or {}
    return Snapshot(
        now=float(raw.get("now", 0.0)),
        request_id=str(raw.get("request_id", name)),
        latency_ms=dict(raw.get("latency_ms") or {}),
        unavailable=frozenset(raw.get("unavailable") or ()),
    )


def run_case(policy: Policy, case: Mapping[str, Any], index: int = 0) -> CaseResult:
    """Decide one case and compare the Decision with its expectations."""
    name = str(case.get("name") or f"case {index}")
    result = CaseResult(name)
    exp: Mapping[str, Any] = case["expect"]
    embeds = "input" in case
    try:
        request = None if embeds else _request(case)
        ctx = RequestContext.model_validate(case.get("context") or {})
    except ValueError as e:
        result.failures.append(f"invalid case: {e}")
        return result
    denied = False
    decision: Decision | None
    snap, model = _snapshot(case.get("snapshot"), name), str(case.get("model", "default"))
    try:
        if request is not None:
            decision = policy.decide(request, ctx, snap, model=model)
        else:
            decision = _embedding_decision(policy, case, ctx, snap, model)
    except NoEligibleTarget as e:
        denied = True
        decision = e.decision if isinstance(e.decision, Decision) else None
    except (RouterError, TypeError) as e:  # TypeError: an embedding case's bad input or params
        result.failures.append(f"error: {e}")
        return result
    result.decision = decision
    f = result.failures
    want_denied = bool(exp.get("denied", False))
    if "denied" in exp and want_denied != denied:
        f.append("expected the request to be denied" if want_denied else "request was denied")
    if denied and not want_denied and "denied" not in exp:
        f.append("request was denied (no eligible target)")
    plan = list(decision.target_names) if decision is not None and not denied else []
    if "target" in exp and (not plan or plan[0] != exp["target"]):
        f.append(f"target: expected {exp['target']!r}, got {plan[0] if plan else None!r}")
    if "plan" in exp and plan != list(exp["plan"]):
        f.append(f"plan: expected {list(exp['plan'])}, got {plan}")
    for t in exp.get("not_planned") or ():
        if t in plan:
            f.append(f"not_planned: {t!r} is in the plan {plan}")
    if decision is not None:
        for t, want in (exp.get("excluded") or {}).items():
            reasons = decision.excluded.get(t)
            if reasons is None:
                f.append(f"excluded: {t!r} was not excluded")
                continue
            for sub in [want] if isinstance(want, str) else list(want):
                if not any(str(sub) in r for r in reasons):
                    f.append(f"excluded: no reason for {t!r} contains {sub!r}; got {list(reasons)}")
        if "sensitivity" in exp and decision.sensitivity.level != exp["sensitivity"]:
            f.append(
                f"sensitivity: expected {exp['sensitivity']!r}, got {decision.sensitivity.level!r}"
            )
        for r in exp.get("matched_rules") or ():
            if r not in decision.matched_rules:
                f.append(
                    f"matched_rules: {r!r} did not match; matched {list(decision.matched_rules)}"
                )
    elif any(k in exp for k in ("excluded", "sensitivity", "matched_rules")):
        f.append("no decision to inspect")
    return result


def run_file(config: Config | Policy, path: str | Path) -> list[CaseResult]:
    """Every case of a tests file against ``config``."""
    policy = config if isinstance(config, Policy) else Policy(config)
    return [run_case(policy, c, i) for i, c in enumerate(load_cases(path))]
