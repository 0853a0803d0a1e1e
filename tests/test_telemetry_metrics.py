"""Metrics: GenAI histograms with the convention's buckets, router counters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from router import Router
from router.errors import NoEligibleTarget, ProviderUnavailable, RequestError
from router.policy.decision import Decision, Limits, SensitivityResult
from router.telemetry import semconv as sc
from router.telemetry.tracing import denial_rule
from tests.telemetry_support import (
    CLOUD_URL,
    LOCAL_URL,
    Otel,
    completion,
    error_body,
    make_config,
    sse_response,
)

pytest_plugins = ["tests.telemetry_fixtures"]

MSG = [{"role": "user", "content": "Say hi"}]


def _by(points: list[Any], **attrs: Any) -> list[Any]:
    return [p for p in points if all(p.attributes.get(k) == v for k, v in attrs.items())]


def test_token_usage_and_duration(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    r = Router(make_config(), **otel.providers)
    r.chat(MSG)
    r.chat(MSG)
    tokens = otel.points(sc.METRIC_TOKEN_USAGE)
    inp = _by(tokens, **{sc.TOKEN_TYPE: "input"})
    out = _by(tokens, **{sc.TOKEN_TYPE: "output"})
    assert len(inp) == 1 and inp[0].count == 2 and inp[0].sum == 24
    assert len(out) == 1 and out[0].sum == 6
    assert tuple(inp[0].explicit_bounds) == sc.TOKEN_BUCKETS
    a = inp[0].attributes
    assert a[sc.OPERATION_NAME] == "chat" and a[sc.PROVIDER_NAME] == "vllm"
    assert a[sc.REQUEST_MODEL] == "smol-135m" and a[sc.RESPONSE_MODEL] == "smol-135m"
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1" and a[sc.SERVER_PORT] == 9301
    dur = otel.points(sc.METRIC_OPERATION_DURATION)
    assert len(dur) == 1 and dur[0].count == 2
    assert tuple(dur[0].explicit_bounds) == sc.DURATION_BUCKETS
    assert sc.ERROR_TYPE not in dur[0].attributes


def test_buckets_are_the_conventions() -> None:
    assert sc.TOKEN_BUCKETS[:4] == (1, 4, 16, 64) and sc.TOKEN_BUCKETS[-1] == 67108864
    assert sc.DURATION_BUCKETS[:3] == (0.01, 0.02, 0.04) and sc.DURATION_BUCKETS[-1] == 81.92


def test_attempts_fallbacks_cost(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(return_value=error_body(503, "down"))
    mock.post(CLOUD_URL).mock(return_value=httpx.Response(200, json=completion("gpt-x")))
    r = Router(make_config(), **otel.providers)
    resp = r.chat(MSG)
    attempts = otel.points(sc.METRIC_ATTEMPTS)
    assert {(p.attributes[sc.TARGET], p.attributes[sc.OUTCOME], p.value) for p in attempts} == {
        ("small", "error", 1),
        ("big", "ok", 1),
    }
    fb = otel.points(sc.METRIC_FALLBACKS)
    assert len(fb) == 1 and fb[0].value == 1
    assert fb[0].attributes[sc.FALLBACK_REASON] == "ProviderUnavailable"
    cost = otel.points(sc.METRIC_COST)
    assert len(cost) == 1 and cost[0].value == pytest.approx(resp.route.cost_usd)
    assert cost[0].value > 0
    dur = otel.points(sc.METRIC_OPERATION_DURATION)
    assert {p.attributes.get(sc.ERROR_TYPE) for p in dur} == {"ProviderUnavailable", None}


def test_failure_counts_no_cost(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(return_value=error_body(503, "down"))
    r = Router(make_config(), **otel.providers)
    with pytest.raises(ProviderUnavailable):
        r.chat(MSG, model="solo")
    assert otel.points(sc.METRIC_COST) == []
    assert [p.attributes[sc.OUTCOME] for p in otel.points(sc.METRIC_ATTEMPTS)] == ["error"]


def test_stream_time_to_first_chunk_and_usage(otel: Otel, mock: respx.MockRouter) -> None:
    mock.post(LOCAL_URL).mock(return_value=sse_response("smol-135m", ["a", "b"]))
    r = Router(make_config(), **otel.providers)
    with r.stream(MSG) as s:
        list(s)
    ttfc = otel.points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert len(ttfc) == 1 and ttfc[0].count == 1
    assert tuple(ttfc[0].explicit_bounds) == sc.DURATION_BUCKETS
    out = _by(otel.points(sc.METRIC_TOKEN_USAGE), **{sc.TOKEN_TYPE: "output"})
    assert out[0].sum == 4
    # A non-streamed call records no time to first chunk.
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    r.chat(MSG)
    assert otel.points(sc.METRIC_TIME_TO_FIRST_CHUNK)[0].count == 1


def test_denials_counted(otel: Otel) -> None:
    r = Router(make_config(), **otel.providers)
    # An unknown level is the caller's mistake: refused, but no denial is counted.
    with pytest.raises(RequestError):
        r.chat(MSG, context={"sensitivity": "top-secret"})
    assert otel.points(sc.METRIC_DENIALS) == []
    with pytest.raises(NoEligibleTarget):
        r.chat(MSG, model="big", context={"sensitivity": "confidential"})
    d = otel.points(sc.METRIC_DENIALS)
    assert len(d) == 1 and d[0].value == 1
    assert d[0].attributes == {sc.ROUTE: "big", sc.RULE: "confidential-stays-home"}
    span = otel.span("route big")
    assert span.attributes[sc.ERROR_TYPE] == "NoEligibleTarget"


def _decision(excluded: dict[str, tuple[str, ...]], rules: tuple[str, ...]) -> Decision:
    return Decision(
        id="d1",
        route="default",
        plan=(),
        excluded=excluded,
        matched_rules=rules,
        sensitivity=SensitivityResult(None, "confidential", "confidential", {"email": 1}),
        limits=Limits(),
    )


def test_denial_rule_attribution() -> None:
    d = _decision(
        {"big": ("rule confidential-stays-home: zone frontier not allowed",)},
        ("per-request-ceiling", "confidential-stays-home"),
    )
    assert denial_rule(NoEligibleTarget("x", d)) == "confidential-stays-home"
    assert denial_rule(NoEligibleTarget("x", _decision({}, ("a",)))) == "unattributed"
    e = NoEligibleTarget("x", d)
    e.rule = "explicit"  # type: ignore[attr-defined]
    assert denial_rule(e) == "explicit"
