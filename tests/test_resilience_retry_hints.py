"""Server retry hints on every retryable status, not only 429.

``retry-after-ms`` / ``Retry-After`` are honoured on 503 and 529 as on 429
(up to ``max_retry_after_s``), and ``x-should-retry`` overrides the status:
``false`` falls back at once, ``true`` retries even a 409.
"""

from __future__ import annotations

import pytest

from router.errors import InvalidRequestError, ProviderUnavailable, RateLimitError
from router.providers.errors_map import error_for_status, should_retry
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import make_config, run

pytest_plugins = ["tests.resilience_fixtures"]

MODES = ("sync", "async")
HINT_S = 0.2  # long next to FAST_RETRY's millisecond backoff, short for the suite


def _gap(server: FaultServer, target: str) -> float:
    first, second = server.records(target)[:2]
    return second.at - first.at


# -- the mapping -------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503, 529])
def test_every_status_carries_the_retry_after(status: int) -> None:
    err = error_for_status(status, "busy", None, {"Retry-After": "3"})
    assert err.retry_after_s == 3
    err = error_for_status(status, "busy", None, {"retry-after-ms": "250", "Retry-After": "3"})
    assert err.retry_after_s == 0.25  # the milliseconds win, as in the OpenAI SDK


def test_x_should_retry_is_read_strictly() -> None:
    assert should_retry({"X-Should-Retry": "true"}) is True
    assert should_retry({"x-should-retry": " FALSE "}) is False
    assert should_retry({"x-should-retry": "maybe"}) is None
    assert should_retry({}) is None
    err = error_for_status(500, "boom", None, {"x-should-retry": "false"})
    assert isinstance(err, ProviderUnavailable) and err.should_retry is False
    assert not err.retryable
    err = error_for_status(409, "locked", None, {"x-should-retry": "true"})
    assert isinstance(err, InvalidRequestError) and err.retryable
    quota = error_for_status(429, "insufficient_quota", None, {"x-should-retry": "true"})
    assert isinstance(quota, RateLimitError) and quota.quota_exhausted and quota.retryable
    plain = error_for_status(502, "bad gateway", None, {})
    assert plain.retry_after_s is None and plain.should_retry is None and plain.retryable


# -- through the router, against the fault server ------------------------------

DELAYED = [
    pytest.param("openai", Fault.http(503, headers={"Retry-After": f"{HINT_S:g}"}), id="503-s"),
    pytest.param(
        "openai", Fault.http(503, headers={"retry-after-ms": f"{HINT_S * 1000:g}"}), id="503-ms"
    ),
    pytest.param(
        "anthropic",
        Fault.http(529, "overloaded_error", headers={"retry-after-ms": f"{HINT_S * 1000:g}"}),
        id="529-anthropic",
    ),
    pytest.param(
        "anthropic",
        Fault.http(503, headers={"Retry-After": f"{HINT_S:g}"}),
        id="503-anthropic",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("wire", "fault"), DELAYED)
def test_server_delay_is_waited_on_5xx(
    faults: FaultServer, mode: str, stream: bool, wire: str, fault: Fault
) -> None:
    cfg = make_config(faults, [{"name": "a", "wire": wire}, {"name": "b", "wire": wire}])
    faults.script("a", fault)
    out = run(cfg, mode=mode, stream=stream)
    assert out.error is None, out.error
    assert out.text == "Hello from a"
    assert out.summary() == [
        ("a", "error", fault.status, "ProviderUnavailable"),
        ("a", "ok", 200, None),
    ]
    # A lower bound only: the retry cannot come sooner than the server asked.
    assert _gap(faults, "a") >= HINT_S
    assert faults.count("b") == 0


@pytest.mark.parametrize("mode", MODES)
def test_5xx_delay_over_the_cap_falls_back(faults: FaultServer, mode: str) -> None:
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])  # max_retry_after_s: 1
    faults.script("a", Fault.http(503, headers={"Retry-After": "3600"}))
    out = run(cfg, mode=mode, stream=False)
    assert out.text == "Hello from b"
    assert [a.target for a in out.attempts] == ["a", "b"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_x_should_retry_false_falls_back_at_once(
    faults: FaultServer, mode: str, stream: bool
) -> None:
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])  # attempts: 2
    faults.script("a", Fault.http(500, headers={"x-should-retry": "false"}))
    out = run(cfg, mode=mode, stream=stream)
    assert out.text == "Hello from b"
    assert out.summary() == [
        ("a", "error", 500, "ProviderUnavailable"),
        ("b", "ok", 200, None),
    ]
    assert faults.count("a") == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_x_should_retry_true_retries_a_409(faults: FaultServer, mode: str, stream: bool) -> None:
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])
    faults.script("a", Fault.http(409, "conflict", headers={"x-should-retry": "true"}))
    out = run(cfg, mode=mode, stream=stream)
    assert out.text == "Hello from a"
    assert out.summary() == [
        ("a", "error", 409, "InvalidRequestError"),
        ("a", "ok", 200, None),
    ]
    assert faults.count("b") == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_409_without_the_header_surfaces(faults: FaultServer, mode: str) -> None:
    """The control: without x-should-retry a 409 is an invalid request, never retried."""
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])
    faults.script("a", Fault.http(409, "conflict"))
    out = run(cfg, mode=mode, stream=False)
    assert isinstance(out.error, InvalidRequestError)
    assert faults.count("a") == 1 and faults.count("b") == 0


@pytest.mark.parametrize("mode", MODES)
def test_x_should_retry_true_exhausted_keeps_the_409_meaning(
    faults: FaultServer, mode: str
) -> None:
    """Once the retries the header asked for are spent, a 409 still surfaces (no fallback)."""
    cfg = make_config(faults, [{"name": "a"}, {"name": "b"}])
    faults.default("a", Fault.http(409, "conflict", headers={"x-should-retry": "true"}))
    out = run(cfg, mode=mode, stream=False)
    assert isinstance(out.error, InvalidRequestError)
    assert faults.count("a") == 2 and faults.count("b") == 0
