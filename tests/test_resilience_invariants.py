"""Policy closure under faults: traffic never leaves the Decision's plan.

Read from the fault server's own records (what actually arrived), not from
the router's account of itself. The confidential route lists every target,
the frontier one first; a policy rule (allow zone local when confidential)
is what must keep the request local, through every retry and fallback.
"""

from __future__ import annotations

import itertools
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


_RUN = itertools.count()


def _prefix() -> str:
    """A fresh server-side name space per example: a try cancelled in one example
    may still be read by the server after the next one has begun."""
    return f"x{next(_RUN)}-"


def _hit(server: FaultServer, prefix: str) -> set[str]:
    return {t.removeprefix(prefix) for t in server.targets_hit() if t.startswith(prefix)}


def _config(
    server: FaultServer, plan: list[str], fallback: bool, hedge: bool = False, prefix: str = ""
) -> dict[str, Any]:
    targets = [{"name": n, "zone": ZONES[n], "in_route": False} for n in TARGETS]
    cfg = make_config(server, targets, route={}, retry={"attempts": 2, "backoff": {"initial_s": 0}})
    for name, provider in cfg["providers"].items():
        provider["base_url"] = server.base_url(prefix + name)
    cfg["routes"] = {
        "r": {"candidates": plan, "fallback": fallback, **({"hedge_after_ms": 1} if hedge else {})},
        # Every target is a candidate, the frontier first: only the rule keeps
        # a confidential request local.
        "confidential": {"candidates": ["f1", "l1", "h1", "l2", "l3"]},
    }
    cfg["rules"] = [
        {
            "name": "confidential-stays-local",
            "when": {"sensitivity": "confidential"},
            "allow": {"zone": ["local"]},
        }
    ]
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
    hedge=st.booleans(),
)
def test_no_request_reaches_a_target_outside_the_plan(
    fault_server: FaultServer,
    plan: list[str],
    fallback: bool,
    scripts: dict[str, list[Fault]],
    mode: str,
    stream: bool,
    hedge: bool,
) -> None:
    prefix = _prefix()
    for name, fs in scripts.items():
        fault_server.script(prefix + name, *fs)
    out = run(_config(fault_server, plan, fallback, hedge, prefix), mode=mode, stream=stream)
    allowed = set(plan if fallback else plan[:1])
    assert _hit(fault_server, prefix) <= allowed
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
    prefix = _prefix()
    for name in ("l1", "l2", "l3"):
        fault_server.default(prefix + name, local_faults[0])
        fault_server.script(prefix + name, *local_faults)
    out = run(
        _config(fault_server, ["l1"], True, prefix=prefix),
        mode=mode,
        stream=stream,
        model="confidential",
        context={"sensitivity": "confidential"},
    )
    assert isinstance(out.error, ProviderError), "it fails with an error instead of leaking"
    assert _hit(fault_server, prefix) <= {"l1", "l2", "l3"}
    assert all(a.zone == "local" for a in out.attempts)
    if not isinstance(out.error, StreamInterrupted):  # raised after content, by the stream
        notes = "".join(getattr(out.error, "__notes__", []))
        assert "planned targets: l1, l2, l3" in notes
