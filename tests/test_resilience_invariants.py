"""Policy closure under faults: traffic never leaves the Decision's plan.

Read from the fault server's own records (what actually arrived), not from
the router's account of itself. Until the policy engine's sensitivity rules
land, a confidential route's plan is restricted to local targets by its
candidates; the frontier target is configured but must never be contacted.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.errors import ProviderError, StreamInterrupted
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

FAST_FAULTS = [
    Fault.ok(),
    Fault.http(500),
    Fault.http(503),
    Fault.http(529, "overloaded_error"),
    Fault.rate_limit(ms=1),
    Fault.rate_limit(seconds=3600),
    Fault.quota(),
    Fault.http(401),
    Fault.http(400),
    Fault.context_length(),
    Fault.reset(),
    Fault.cut(after=0),
    Fault.cut(after=1),
    Fault.malformed(),
    Fault.stream_error(after=0),
    Fault.wrong_type(),
]
TARGETS = ["l1", "l2", "l3", "h1", "f1"]
ZONES = {"l1": "local", "l2": "local", "l3": "local", "h1": "hosted", "f1": "frontier"}
_faults = st.lists(st.sampled_from(FAST_FAULTS), max_size=6)


def _config(server: FaultServer, plan: list[str], fallback: bool) -> dict[str, Any]:
    targets = [{"name": n, "zone": ZONES[n], "in_route": False} for n in TARGETS]
    cfg = make_config(server, targets, route={}, retry={"attempts": 2, "backoff": {"initial_s": 0}})
    cfg["routes"] = {
        "r": {"candidates": plan, "fallback": fallback},
        # What a confidential request is admitted to: local targets only.
        "confidential": {"candidates": ["l1", "l2", "l3"]},
    }
    return cfg


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=4, unique=True),
    fallback=st.booleans(),
    scripts=st.fixed_dictionaries({n: _faults for n in TARGETS}),
    mode=st.sampled_from(["sync", "async"]),
    stream=st.booleans(),
)
def test_no_request_reaches_a_target_outside_the_plan(
    fault_server: FaultServer,
    plan: list[str],
    fallback: bool,
    scripts: dict[str, list[Fault]],
    mode: str,
    stream: bool,
) -> None:
    fault_server.reset()
    for name, fs in scripts.items():
        fault_server.script(name, *fs)
    out = run(_config(fault_server, plan, fallback), mode=mode, stream=stream)
    allowed = set(plan if fallback else plan[:1])
    assert fault_server.targets_hit() <= allowed
    assert {a.target for a in out.attempts} <= allowed
    assert (out.error is None) != (out.text is None)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    local_faults=st.lists(
        st.sampled_from([f for f in FAST_FAULTS if f.kind != "ok" and f.status != 400]),
        min_size=1,
        max_size=3,
    ),
    mode=st.sampled_from(["sync", "async"]),
    stream=st.booleans(),
)
def test_confidential_never_reaches_a_non_local_target_even_when_all_locals_fail(
    fault_server: FaultServer, local_faults: list[Fault], mode: str, stream: bool
) -> None:
    fault_server.reset()
    for name in ("l1", "l2", "l3"):
        fault_server.default(name, local_faults[0])
        fault_server.script(name, *local_faults)
    out = run(
        _config(fault_server, ["l1"], True),
        mode=mode,
        stream=stream,
        model="confidential",
        context={"sensitivity": "confidential"},
    )
    assert isinstance(out.error, ProviderError), "it fails with an error instead of leaking"
    assert fault_server.targets_hit() <= {"l1", "l2", "l3"}
    assert all(a.zone == "local" for a in out.attempts)
    if not isinstance(out.error, StreamInterrupted):  # raised after content, by the stream
        notes = "".join(getattr(out.error, "__notes__", []))
        assert "planned targets: l1, l2, l3" in notes
