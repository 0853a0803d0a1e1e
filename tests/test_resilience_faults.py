"""Each fault x sync/async x stream/non-stream: the outcome and the attempt record.

Target ``a`` is first in the plan and misbehaves on every try; ``b`` is
healthy. Retryable faults are retried once on ``a`` (attempts: 2) and then
fall back to ``b``; the others fall back at once or surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from router.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    InvalidRequestError,
    StreamInterrupted,
)
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

MODES = ("sync", "async")


@dataclass(frozen=True)
class Case:
    id: str
    fault: Fault
    error: str | None  # the error class recorded for a's tries (None: a succeeds)
    status: int | str | None = None
    """HTTP status recorded; ``"any"`` where an adapter maps an in-body error to one."""
    retried: bool = True
    outcome: str = "error"


CASES = [
    Case("429-retry-after-s", Fault.rate_limit(seconds=0), "RateLimitError", 429),
    Case("429-retry-after-ms", Fault.rate_limit(ms=10), "RateLimitError", 429),
    Case("429-http-date", Fault.rate_limit(date_in_s=-5), "RateLimitError", 429),
    Case("429-over-cap", Fault.rate_limit(seconds=3600), "RateLimitError", 429, retried=False),
    Case("429-quota", Fault.quota(), "RateLimitError", 429, retried=False),
    Case("500", Fault.http(500), "ProviderUnavailable", 500),
    Case("502", Fault.http(502), "ProviderUnavailable", 502),
    Case("503", Fault.http(503), "ProviderUnavailable", 503),
    Case("529", Fault.http(529, "overloaded_error"), "ProviderUnavailable", 529),
    Case("hang", Fault.hang(5), "ProviderTimeout", outcome="timeout"),
    Case("slow-first-byte", Fault.ok(delay_s=1.0), "ProviderTimeout", outcome="timeout"),
    Case("reset", Fault.reset(), "ProviderUnavailable"),
    Case("cut", Fault.cut(after=0), "ProviderUnavailable"),
    Case("malformed", Fault.malformed(), "ProviderUnavailable"),
    Case("error-event", Fault.stream_error(after=0), "ProviderUnavailable", "any"),
    Case("wrong-content-type", Fault.wrong_type(), "ProviderUnavailable"),
    Case("401", Fault.http(401), "AuthenticationError", 401, retried=False),
    Case("context-length", Fault.context_length(), "ContextLengthExceeded", 400, retried=False),
]


def _config(server: FaultServer, wire: str) -> dict[str, object]:
    return make_config(
        server,
        [
            {"name": "a", "wire": wire, "context_window": 4096},
            {"name": "b", "wire": wire, "context_window": 8192},
        ],
    )


@pytest.fixture(params=["openai", "anthropic", "ollama"])
def wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# Every fault in both drivers over OpenAI's wire; the native wires (whose
# adapters differ, not the drivers) once each, one in each driver, to keep the suite fast.
WIRE_MODES = [
    ("openai", "sync"),
    ("openai", "async"),
    ("anthropic", "sync"),
    ("ollama", "async"),
    ("gemini", "sync"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("wire_mode", WIRE_MODES, ids=["-".join(w) for w in WIRE_MODES])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_falls_back_with_attempt_record(
    faults: FaultServer, case: Case, wire_mode: tuple[str, str], stream: bool
) -> None:
    wire, mode = wire_mode
    faults.default("a", case.fault)
    out = run(_config(faults, wire), mode=mode, stream=stream)

    assert out.error is None, f"{case.id}: {out.error!r}"
    assert out.text == "Hello from b"
    tries = 2 if case.retried else 1
    expected = [("a", case.outcome, case.status, case.error)] * tries + [("b", "ok", 200, None)]
    got = out.summary()
    if case.status == "any":
        got = [(t, o, "any" if t == "a" else s, e) for t, o, s, e in got]
    assert got == expected
    assert faults.count("a") == tries
    assert faults.count("b") == 1
    assert all(r.stream is stream for r in faults.records())
    assert all(a.latency_s >= 0 for a in out.attempts)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault", [Fault.ok(delay_s=0.05), Fault.huge(1_000_000)], ids=["slow-within", "huge"]
)
def test_benign_faults_succeed_on_first_target(
    faults: FaultServer, wire: str, fault: Fault, mode: str, stream: bool
) -> None:
    faults.default("a", fault)
    out = run(_config(faults, wire), mode=mode, stream=stream)
    assert out.error is None
    assert out.summary() == [("a", "ok", 200, None)]
    assert out.text is not None
    assert len(out.text) == (fault.size or len("Hello from a"))
    assert faults.count("b") == 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_retry_recovers_on_the_same_target(
    faults: FaultServer, wire: str, mode: str, stream: bool
) -> None:
    faults.script("a", Fault.http(503))
    out = run(_config(faults, wire), mode=mode, stream=stream)
    assert out.text == "Hello from a"
    assert out.summary() == [
        ("a", "error", 503, "ProviderUnavailable"),
        ("a", "ok", 200, None),
    ]
    assert faults.count("b") == 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_invalid_request_surfaces_at_once(
    faults: FaultServer, wire: str, mode: str, stream: bool
) -> None:
    faults.default("a", Fault.http(400, "invalid_request_error", "bad field"))
    out = run(_config(faults, wire), mode=mode, stream=stream)
    assert isinstance(out.error, InvalidRequestError)
    assert not isinstance(out.error, ContextLengthExceeded)
    assert out.summary() == [("a", "error", 400, "InvalidRequestError")]
    assert faults.count("b") == 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_every_target_failing_raises_last_error_with_all_attempts(
    faults: FaultServer, mode: str, stream: bool
) -> None:
    faults.default("a", Fault.http(503))
    faults.default("b", Fault.http(401))
    out = run(_config(faults, "openai"), mode=mode, stream=stream)
    assert isinstance(out.error, AuthenticationError)
    assert [a.target for a in out.attempts] == ["a", "a", "b"]
    assert "planned targets: a, b" in "".join(getattr(out.error, "__notes__", []))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", [Fault.cut(after=2), Fault.stream_error(after=2)], ids=str)
def test_failure_after_first_content_is_stream_interrupted(
    faults: FaultServer, wire: str, mode: str, fault: Fault
) -> None:
    faults.default("a", fault)
    out = run(_config(faults, wire), mode=mode, stream=True)
    assert isinstance(out.error, StreamInterrupted)
    assert out.error.text == "Hello from "
    assert out.summary() == [("a", "ok", 200, None)]
    assert faults.count("b") == 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_context_length_skips_to_a_larger_window(
    faults: FaultServer, mode: str, stream: bool
) -> None:
    cfg = make_config(
        faults,
        [
            {"name": "a", "context_window": 8192},
            {"name": "small", "context_window": 4096},
            {"name": "same", "context_window": 8192},
            {"name": "big", "context_window": 32768},
        ],
    )
    faults.default("a", Fault.context_length())
    out = run(cfg, mode=mode, stream=stream)
    assert out.text == "Hello from big"
    assert out.summary() == [
        ("a", "error", 400, "ContextLengthExceeded"),
        ("small", "skipped", None, None),
        ("same", "skipped", None, None),
        ("big", "ok", 200, None),
    ]
    assert faults.targets_hit() == {"a", "big"}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_route_without_fallback_stops_after_first_target(
    faults: FaultServer, mode: str, stream: bool
) -> None:
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}], route={"fallback": False})
    faults.default("a", Fault.http(503))
    out = run(cfg, mode=mode, stream=stream)
    assert out.error is not None
    assert [a.target for a in out.attempts] == ["a", "a"]
    assert faults.count("b") == 0


@pytest.mark.parametrize("mode", MODES)
def test_route_retry_overrides_provider_retry(faults: FaultServer, mode: str) -> None:
    cfg = make_config(
        faults,
        [{"name": "a"}, {"name": "b"}],
        route={"retry": {"attempts": 4, "backoff": {"initial_s": 0.001, "jitter": 0}}},
    )
    faults.default("a", Fault.http(500))
    out = run(cfg, mode=mode, stream=False)
    assert [a.target for a in out.attempts] == ["a"] * 4 + ["b"]


@pytest.mark.parametrize("mode", MODES)
def test_retry_on_limits_which_failures_are_retried(faults: FaultServer, mode: str) -> None:
    retry = {"attempts": 3, "on": ["rate_limit"], "backoff": {"initial_s": 0.001}}
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}], retry=retry)
    faults.script("a", Fault.rate_limit(ms=1), Fault.http(503))
    out = run(cfg, mode=mode, stream=False)
    assert [(a.target, a.status) for a in out.attempts] == [("a", 429), ("a", 503), ("b", 200)]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: nothing listens there


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_connection_refused_falls_back(faults: FaultServer, mode: str, stream: bool) -> None:
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])
    cfg["providers"]["a"]["base_url"] = f"http://127.0.0.1:{_closed_port()}/v1"
    out = run(cfg, mode=mode, stream=stream)
    assert out.text == "Hello from b"
    assert out.summary() == [
        ("a", "error", None, "ProviderUnavailable"),
        ("a", "error", None, "ProviderUnavailable"),
        ("b", "ok", 200, None),
    ]
