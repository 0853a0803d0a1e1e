"""No value a redacted detector finds reaches a listed zone, on any adapter's wire.

One property per adapter and field: a detector-positive value (of detector
D) is drawn into a random field of a random request — split across parts or
turns, JSON-escaped, disguised with Unicode — under a policy whose rule
redacts D for the frontier zone. For every planned frontier target the test
builds the body that adapter would POST from what the executor sends it
(``Call.request_for``: the redacted request) and requires that the value
cannot be recovered from it, raw, JSON-unescaped or joined
(:func:`tests.wire_coverage_support.recoverable`). Redaction that cannot be
exact must keep the zone out of the plan instead.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from router.config import load_dict
from router.errors import NoEligibleTarget, RouterError
from router.execution.call import Call
from router.policy import Decision, Policy
from router.targets import Target
from router.types import ChatRequest, RequestContext
from tests.wire_coverage_support import (
    ADAPTERS,
    FIELDS,
    KINDS,
    VALUES,
    Case,
    _config,
    cases,
    recoverable,
    wire_body,
)

ALL = list(ADAPTERS)


@cache
def policy_for(kind: str) -> Policy:
    """The wire-coverage config with one rule only: redact ``kind`` for the frontier.

    No rule keeps confidential requests home, so redaction alone (and its
    fail-closed check) stands between the value and the frontier.
    """
    cfg = _config()
    cfg["rules"] = [{"name": "redact-out", "redact": {"detectors": [kind], "zones": ["frontier"]}}]
    return Policy(load_dict(cfg))


def sent_to(decision: Decision, target: Target, request: ChatRequest) -> ChatRequest:
    """What the executor sends ``target``: ``Call.request_for``, the executor's own choice."""
    route = policy_for("email").route_for(decision.route)[1]
    call = Call(request, RequestContext(), decision, route, walker=None)  # type: ignore[arg-type]
    return call.request_for(target)


def frontier_bodies(adapter: str, case: Case, stream: bool) -> list[bytes] | None:
    request = case.chat_request()
    try:
        decision = policy_for(case.kind).decide(request)
    except NoEligibleTarget:
        event("refused")
        return None
    out = []
    for t in decision.plan:
        if t.zone != "frontier":
            continue
        event(
            "frontier planned" + (" (redacted)" if decision.redaction else " (nothing to redact)")
        )
        try:
            out.append(wire_body(adapter, sent_to(decision, t, request), stream=stream))
        except RouterError as e:
            event(f"refused: {type(e).__name__}")
    return out


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("adapter", ALL)
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_no_redacted_value_reaches_the_zone(adapter: str, field: str, data: st.DataObject) -> None:
    case: Case = data.draw(cases(field), label="case")
    stream = data.draw(st.booleans(), label="stream")
    for body in frontier_bodies(adapter, case, stream) or ():
        assert not recoverable(body, case.value, fold=case.fold), (
            f"{adapter} sends a redacted zone {case.describe()}\nbody: {body.decode()}"
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("adapter", ALL)
@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_a_plainly_written_value_is_redacted_not_refused(
    adapter: str, kind: str, data: st.DataObject
) -> None:
    """The property above is not met by refusing everything: a value written
    plainly in a message goes to the frontier, as a placeholder."""
    value = data.draw(VALUES[kind], label="value")
    role = data.draw(st.sampled_from(["user", "system"]), label="role")
    msgs = [{"role": role, "content": f"please keep {value} safe"}]
    if role == "system":
        msgs.append({"role": "user", "content": "Hi."})
    request = ChatRequest.model_validate({"messages": msgs})
    decision = policy_for(kind).decide(request)
    frontier = [t for t in decision.plan if t.zone == "frontier"]
    assert frontier and decision.redaction is not None, decision.explain()
    body = wire_body(adapter, sent_to(decision, frontier[0], request))
    assert not recoverable(body, value, fold=kind == "iban")
    assert f"[{decision.redaction.request.messages[0].content.split('[')[1]}" in body.decode()  # type: ignore[union-attr]
