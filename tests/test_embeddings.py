"""Router.embed / AsyncRouter.embed under the policy: plans, batches, failures, money, records."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

from router import AsyncRouter, Router
from router.accounting import read_ledger
from router.errors import (
    AuthenticationError,
    BudgetExceeded,
    ConfigError,
    InvalidRequestError,
    NoEligibleTarget,
    ProviderError,
    ProviderUnavailable,
    RequestError,
)
from router.telemetry import semconv as sc
from tests import national_id_corpus as ids
from tests.telemetry_support import Otel

pytest_plugins = ["tests.telemetry_fixtures"]

LOCAL = "http://127.0.0.1:9401/v1/embeddings"
CLOUD = "http://127.0.0.1:9402/v1/embeddings"
CHAT = "http://127.0.0.1:9401/v1/chat/completions"
LOCAL_KEY = "sk-local-0123456789abcdefLOCALKEY"
CLOUD_KEY = "sk-cloud-0123456789abcdefCLOUDKEY"
PRICE = 0.02  # USD per million input tokens


def config(**extra: Any) -> dict[str, Any]:
    """``cloud-emb`` (frontier, priced) first, then ``local-emb``; a chat model; a mixed route."""
    cfg: dict[str, Any] = {
        "providers": {
            "gpu": {
                "kind": "vllm",
                "base_url": "http://127.0.0.1:9401/v1",
                "api_key": LOCAL_KEY,
                "zone": "local",
            },
            "cloud": {
                "kind": "openai",
                "base_url": "http://127.0.0.1:9402/v1",
                "api_key": CLOUD_KEY,
                "zone": "frontier",
            },
        },
        "models": {
            "cloud-emb": {
                "provider": "cloud",
                "model": "text-embedding-3-small",
                "capabilities": ["embeddings"],
                "price": {"input": PRICE, "output": 0},
            },
            "local-emb": {"provider": "gpu", "model": "bge-small", "capabilities": ["embeddings"]},
            "chat": {"provider": "gpu", "model": "smol"},
        },
        "routes": {
            "default": {"candidates": ["cloud-emb", "local-emb"]},
            "chat": {"candidates": ["chat"]},
            "mixed": {"candidates": ["chat", "cloud-emb", "local-emb"]},
        },
        "rules": [
            {
                "name": "confidential-stays-home",
                "when": {"sensitivity": ">= confidential"},
                "allow": {"zone": ["local"]},
            }
        ],
    }
    for k, v in extra.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    return cfg


def vector(text: str) -> list[float]:
    """A vector that names its input: its length and its first and last characters."""
    return [float(len(text)), float(ord(text[0])), float(ord(text[-1]))]


def answer(request: httpx.Request, *, reverse: bool = True, usage: bool = True) -> httpx.Response:
    """An OpenAI embeddings answer for whatever was asked, items in reverse order."""
    body = json.loads(request.content)
    items = [
        {"object": "embedding", "index": i, "embedding": vector(t)}
        for i, t in enumerate(body["input"])
    ]
    if reverse:
        items.reverse()
    out: dict[str, Any] = {"object": "list", "data": items, "model": body["model"]}
    if usage:
        n = sum(len(t) for t in body["input"])
        out["usage"] = {"prompt_tokens": n, "total_tokens": n}
    return httpx.Response(200, json=out)


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(c.request.content) for c in route.calls]


DOCS = [f"document number {i} about gardening" for i in range(11)]


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_called=False) as m:
        yield m


def test_one_string_gives_one_vector_with_usage_and_route(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD).mock(side_effect=answer)
    with Router(config()) as r:
        resp = r.embed("hello world")
    assert [d.index for d in resp.data] == [0]
    assert resp.data[0].embedding == vector("hello world")
    assert resp.object == "list" and resp.data[0].object == "embedding"
    assert resp.model == "text-embedding-3-small"
    assert resp.usage.prompt_tokens == 11 and resp.usage.total_tokens == 11
    assert resp.usage.completion_tokens == 0 and not resp.usage.estimated
    assert resp.route is not None and resp.route.target == "cloud-emb"
    assert resp.route.zone == "frontier"
    assert resp.route.cost_usd == pytest.approx(11 * PRICE / 1e6)
    (body,) = sent(cloud)
    assert body == {"model": "text-embedding-3-small", "input": ["hello world"]}
    assert cloud.calls[0].request.headers["authorization"] == f"Bearer {CLOUD_KEY}"


def test_batches_split_to_the_limit_and_come_back_in_input_order(
    mock: respx.MockRouter,
) -> None:
    cloud = mock.post(CLOUD).mock(side_effect=answer)
    cfg = config()
    cfg["providers"]["cloud"]["options"] = {"embedding_batch_size": 4}
    with Router(cfg) as r:
        resp = r.embed(DOCS)
    assert [len(b["input"]) for b in sent(cloud)] == [4, 4, 3]
    assert [x for b in sent(cloud) for x in b["input"]] == DOCS
    assert [d.index for d in resp.data] == list(range(len(DOCS)))
    assert resp.vectors == [vector(t) for t in DOCS]
    # Usage adds up over the batches.
    assert resp.usage.prompt_tokens == sum(len(t) for t in DOCS)


def test_one_confidential_input_keeps_the_whole_batch_local(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD).mock(side_effect=answer)
    local = mock.post(LOCAL).mock(side_effect=answer)
    docs = [*DOCS, "reach me at jane.doe@example.com", "more gardening"]
    cfg = config()
    cfg["providers"]["gpu"]["options"] = {"embedding_batch_size": 5}
    with Router(cfg) as r:
        decision = r.explain_embed(docs)
        resp = r.embed(docs)
        public = r.embed(DOCS)
    assert decision.operation == "embeddings"
    assert decision.sensitivity.level == "confidential"
    assert set(decision.sensitivity.detectors) == {"email"}
    assert decision.target_names == ("local-emb",)
    assert "cloud-emb" in decision.excluded
    assert resp.route is not None and resp.route.target == "local-emb"
    # Every batch of the confidential call went to the local target; the cloud saw
    # only the public call.
    assert [x for b in sent(local) for x in b["input"]] == docs
    assert [x for b in sent(cloud) for x in b["input"]] == DOCS
    assert public.route is not None and public.route.target == "cloud-emb"
    assert resp.vectors == [vector(t) for t in docs]


def test_a_value_split_across_two_inputs_is_still_found(mock: respx.MockRouter) -> None:
    # Both halves travel in one body: the policy reads across the boundary.
    with Router(config()) as r:
        d = r.explain_embed(["write to jane.doe@exa", "mple.com today"])
    assert d.sensitivity.level == "confidential" and d.target_names == ("local-emb",)


def test_the_user_field_is_classified_too(mock: respx.MockRouter) -> None:
    with Router(config()) as r:
        d = r.explain_embed(["gardening"], user="jane.doe@example.com")
    assert d.sensitivity.level == "confidential" and d.target_names == ("local-emb",)


def test_confidential_never_reaches_the_cloud_when_every_local_fails(
    mock: respx.MockRouter,
) -> None:
    cloud = mock.post(CLOUD).mock(side_effect=answer)
    mock.post(LOCAL).mock(return_value=httpx.Response(503, json={"error": {"message": "down"}}))
    with Router(config()) as r, pytest.raises(ProviderUnavailable):
        r.embed(["mail jane.doe@example.com"])
    assert not cloud.called


def test_chat_and_embed_refuse_the_other_kind_of_route_before_any_send(
    mock: respx.MockRouter,
) -> None:
    everything = mock.route().mock(side_effect=answer)
    with Router(config()) as r:
        with pytest.raises(RequestError, match=r"only embedding models.*embed"):
            r.chat([{"role": "user", "content": "hi"}])
        with pytest.raises(RequestError, match="no embedding model"):
            r.embed("hi", model="chat")
        with pytest.raises(RequestError, match="only embedding models"):
            r.chat([{"role": "user", "content": "hi"}], model="local-emb")
        with pytest.raises(RequestError, match="only embedding models"):
            r.explain([{"role": "user", "content": "hi"}])
    assert not everything.called


def test_a_mixed_route_plans_only_the_kind_each_call_needs(mock: respx.MockRouter) -> None:
    with Router(config()) as r:
        emb = r.explain_embed("hi", model="mixed")
        chat = r.explain([{"role": "user", "content": "hi"}], model="mixed")
    assert emb.target_names == ("cloud-emb", "local-emb")
    assert any("capability: no embeddings" in x for x in emb.excluded["chat"])
    assert chat.target_names == ("chat",)
    for name in ("cloud-emb", "local-emb"):
        assert any("embedding model" in x for x in chat.excluded[name])
    assert "operation=embeddings" in emb.explain()


def test_a_5xx_falls_back_in_order(mock: respx.MockRouter) -> None:
    mock.post(CLOUD).mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    local = mock.post(LOCAL).mock(side_effect=answer)
    with Router(config()) as r:
        resp = r.embed(["a", "b"])
    assert resp.route is not None and resp.route.target == "local-emb"
    assert [(a.target, a.outcome) for a in resp.route.attempts] == [
        ("cloud-emb", "error"),
        ("local-emb", "ok"),
    ]
    assert local.call_count == 1


def test_a_failing_later_batch_fails_the_try_and_the_fallback_resends_all(
    mock: respx.MockRouter,
) -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(502, text="bad gateway")
        return answer(request)

    mock.post(CLOUD).mock(side_effect=flaky)
    local = mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["providers"]["cloud"]["options"] = {"embedding_batch_size": 4}
    with Router(cfg) as r:
        resp = r.embed(DOCS)
    assert [x for b in sent(local) for x in b["input"]] == DOCS
    assert resp.vectors == [vector(t) for t in DOCS]


def test_a_4xx_is_the_callers_error_and_stops(mock: respx.MockRouter) -> None:
    mock.post(CLOUD).mock(
        return_value=httpx.Response(400, json={"error": {"message": "bad input", "code": "x"}})
    )
    local = mock.post(LOCAL).mock(side_effect=answer)
    with Router(config()) as r, pytest.raises(InvalidRequestError):
        r.embed("hi")
    assert not local.called


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b'{"data": []}',
        b'{"data": [{"index": 0, "embedding": [NaN, 1.0]}]}',
        b'{"data": [{"index": 0, "embedding": [[1.0], [2.0]]}]}',
    ],
)
def test_a_malformed_answer_is_malformed_response_and_falls_back(
    mock: respx.MockRouter, body: bytes
) -> None:
    mock.post(CLOUD).mock(return_value=httpx.Response(200, content=body))
    mock.post(LOCAL).mock(return_value=httpx.Response(200, content=body))
    with Router(config()) as r, pytest.raises(ProviderUnavailable) as e:
        r.embed("hi")
    assert e.value.code == "malformed_response"
    assert [a.outcome for a in e.value.attempts] == ["error", "error"]


def test_vectors_of_mixed_lengths_are_malformed(mock: respx.MockRouter) -> None:
    def uneven(request: httpx.Request) -> httpx.Response:
        data = [{"index": 0, "embedding": [1.0, 2.0]}, {"index": 1, "embedding": [1.0]}]
        return httpx.Response(200, json={"data": data})

    mock.post(CLOUD).mock(side_effect=uneven)
    mock.post(LOCAL).mock(side_effect=uneven)
    with Router(config()) as r, pytest.raises(ProviderUnavailable, match="different lengths"):
        r.embed(["a", "b"])


def test_the_api_key_is_in_no_error(mock: respx.MockRouter) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {CLOUD_KEY}", "code": "bad"}}
    mock.post(CLOUD).mock(return_value=httpx.Response(401, json=echo))
    mock.post(LOCAL).mock(
        return_value=httpx.Response(500, json={"error": {"message": f"{LOCAL_KEY} leaked"}})
    )
    with Router(config()) as r, pytest.raises(ProviderError) as e:
        r.embed("hi")
    err = e.value
    rendered = " ".join([str(err), repr(err), *map(str, err.args), *getattr(err, "__notes__", [])])
    assert CLOUD_KEY not in rendered and LOCAL_KEY not in rendered
    assert err.attempts[0].error == "AuthenticationError"
    assert {a.error for a in err.attempts[1:]} == {"ProviderUnavailable"}  # retried: the last


def test_a_missing_key_names_the_variable_not_a_value(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = config()
    del cfg["providers"]["cloud"]["api_key"]
    cfg["routes"]["default"] = {"candidates": ["cloud-emb"]}
    cloud = mock.post(CLOUD).mock(side_effect=answer)
    with Router(cfg) as r, pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        r.embed("hi")
    assert not cloud.called


def test_cost_is_priced_on_input_alone(mock: respx.MockRouter) -> None:
    with Router(config()) as r:
        d = r.explain_embed(DOCS)
    assert d.output_tokens == 0
    assert d.costs["cloud-emb"] == pytest.approx(d.input_tokens_bound * PRICE / 1e6)
    assert "output" not in d.explain().split("tokens:")[1].splitlines()[0]


def test_a_cost_ceiling_excludes_the_paid_target(mock: respx.MockRouter) -> None:
    local = mock.post(LOCAL).mock(side_effect=answer)
    cloud = mock.post(CLOUD).mock(side_effect=answer)
    with Router(config()) as r:
        resp = r.embed(DOCS, context={"max_cost_usd": 1e-9})
        with pytest.raises(NoEligibleTarget, match="cost: worst case"):
            r.embed(DOCS, model="cloud-emb", context={"max_cost_usd": 1e-9})
    assert resp.route is not None and resp.route.target == "local-emb"
    assert local.called and not cloud.called


def _budget(usd: float, on_exhausted: str = "deny") -> dict[str, Any]:
    return {
        "name": "embed-budget",
        "when": {},
        "budget": {"key": "tenant", "usd": usd, "per": "day", "on_exhausted": on_exhausted},
    }


def test_a_budget_refuses_what_it_cannot_hold_and_records_what_it_spends(
    mock: respx.MockRouter,
) -> None:
    mock.post(CLOUD).mock(side_effect=answer)
    cfg = config()
    cfg["rules"].append(_budget(1e-6))
    ctx = {"tenant": "acme"}
    with Router(cfg) as r:
        big = ["word " * 200] * 20  # ~20 KB: a worst case of ~$0.0004 > $0.000001
        with pytest.raises(BudgetExceeded, match="budget exceeded"):
            r.embed(big, context=ctx)
        resp = r.embed("tiny", context=ctx)
        (rec,) = read_ledger(r.store)
    assert rec.target == "cloud-emb" and rec.tenant == "acme" and rec.outcome == "ok"
    assert rec.prompt_tokens == 4 and rec.completion_tokens == 0
    assert rec.cost_usd == pytest.approx(4 * PRICE / 1e6)
    assert resp.route is not None and rec.cost_usd == resp.route.cost_usd
    assert rec.reserved_usd > 0 and rec.excess_usd == 0


def test_local_only_narrows_an_exhausted_budget_to_the_free_local_target(
    mock: respx.MockRouter,
) -> None:
    local = mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["rules"].append(_budget(1e-9, "local_only"))
    with Router(cfg) as r:
        resp = r.embed(DOCS, context={"tenant": "acme"})
    assert resp.route is not None and resp.route.target == "local-emb" and local.called


def test_a_failure_releases_the_hold(mock: respx.MockRouter) -> None:
    mock.post(CLOUD).mock(return_value=httpx.Response(400, json={"error": {"message": "no"}}))
    cfg = config()
    cfg["rules"].append(_budget(1.0))
    with Router(cfg) as r:
        with pytest.raises(InvalidRequestError):
            r.embed("hi", context={"tenant": "acme"})
        usage = [r.store.budget_usage(k, now=time.time()) for k in _keys(r)]
    assert usage
    assert all(u.held_usd == 0 and u.spent_usd == 0 and u.holds == 0 for u in usage)


def _keys(r: Router) -> list[str]:
    from router.accounting.budget import BudgetGate

    gate: BudgetGate = r.budget
    return [a.charge.key for a in gate._windows.values()]


def test_gemini_usage_is_the_bound_and_flagged_estimated(mock: respx.MockRouter) -> None:
    url = "http://127.0.0.1:9403/v1beta/models/gemini-embedding-001:batchEmbedContents"

    def gem(request: httpx.Request) -> httpx.Response:
        reqs = json.loads(request.content)["requests"]
        vecs = [{"values": vector(q["content"]["parts"][0]["text"])} for q in reqs]
        return httpx.Response(200, json={"embeddings": vecs})

    route = mock.post(url).mock(side_effect=gem)
    cfg = {
        "providers": {
            "g": {"kind": "gemini", "base_url": "http://127.0.0.1:9403", "api_key": CLOUD_KEY}
        },
        "models": {
            "gem": {
                "provider": "g",
                "model": "gemini-embedding-001",
                "capabilities": ["embeddings"],
                "price": {"input": 0.15, "output": 0},
            }
        },
        "routes": {"default": {"candidates": ["gem"]}},
    }
    texts = [f"t{i}" for i in range(150)]
    with Router(cfg) as r:
        resp = r.embed(texts, dimensions=3)
        bound = r.explain_embed(texts).input_tokens_bound
    assert route.call_count == 2  # Gemini takes 100 per batch
    assert resp.vectors == [vector(t) for t in texts]
    assert resp.usage.estimated and resp.usage.prompt_tokens == bound
    assert resp.route is not None and resp.route.cost_estimated
    assert route.calls[0].request.headers["x-goog-api-key"] == CLOUD_KEY
    body = json.loads(route.calls[0].request.content)
    assert body["requests"][0]["outputDimensionality"] == 3


def test_ollama_native_embed(mock: respx.MockRouter) -> None:
    def oll(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "model": body["model"],
                "embeddings": [vector(t) for t in body["input"]],
                "prompt_eval_count": 7,
            },
        )

    route = mock.post("http://127.0.0.1:11434/api/embed").mock(side_effect=oll)
    cfg = {
        "providers": {"o": {"kind": "ollama", "base_url": "http://127.0.0.1:11434"}},
        "models": {
            "nomic": {"provider": "o", "model": "nomic-embed-text", "capabilities": ["embeddings"]}
        },
        "routes": {"default": {"candidates": ["nomic"]}},
    }
    with Router(cfg) as r:
        resp = r.embed(DOCS)
    assert route.call_count == 1  # no batch limit
    assert resp.vectors == [vector(t) for t in DOCS] and resp.usage.prompt_tokens == 7
    assert resp.route is not None and resp.route.zone == "local"


def test_dimensions_are_sent_and_an_ignoring_server_is_fallen_back_from(
    mock: respx.MockRouter,
) -> None:
    cloud = mock.post(CLOUD).mock(side_effect=answer)  # 3-long vectors whatever is asked
    local = mock.post(LOCAL).mock(side_effect=answer)
    with Router(config()) as r:
        ok = r.embed("hi", dimensions=3)
        with pytest.raises(ProviderError) as e:
            r.embed("hi", dimensions=2)
    assert sent(cloud)[0]["dimensions"] == 3 and ok.route is not None
    assert e.value.code == "dimensions_unsupported"
    assert [a.target for a in e.value.attempts] == ["cloud-emb", "local-emb"]
    assert local.call_count == 1


def test_dimensions_on_a_target_that_cannot_is_a_clear_error_before_any_send(
    tmp_path: Path,
) -> None:
    cfg = {
        "providers": {"e": {"kind": "embedded"}},
        "models": {
            "gguf": {
                "provider": "e",
                "model": str(tmp_path / "missing.gguf"),
                "capabilities": ["embeddings"],
            }
        },
        "routes": {"default": {"candidates": ["gguf"]}},
    }
    with Router(cfg) as r, pytest.raises(RequestError, match="dimensions"):
        r.embed("hi", dimensions=64)


def test_base64_on_the_wire_comes_back_as_floats(mock: respx.MockRouter) -> None:
    import base64
    import struct

    def b64(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["encoding_format"] == "base64"
        data = [
            {"index": i, "embedding": base64.b64encode(struct.pack("<3f", *vector(t))).decode()}
            for i, t in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": 2}})

    mock.post(CLOUD).mock(side_effect=b64)
    with Router(config()) as r:
        resp = r.embed(["ab", "cd"], encoding_format="base64")
    assert resp.vectors == [vector("ab"), vector("cd")]


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "match"),
    [
        ([], {}, RequestError, "input"),
        ("", {}, RequestError, r"input\[0\]"),
        (["ok", ""], {}, RequestError, r"input\[1\]"),
        (["ok", 3], {}, TypeError, r"input\[1\]"),
        (b"bytes", {}, TypeError, "string"),
        (None, {}, TypeError, "string"),
        (["ok", "bad \ud800 surrogate"], {}, RequestError, r"input\[1\]"),
        ("ok", {"dimensions": 0}, RequestError, "dimensions"),
        ("ok", {"encoding_format": "hex"}, RequestError, "encoding_format"),
    ],
)
def test_bad_input_is_a_clear_error_that_quotes_nothing(
    mock: respx.MockRouter, value: Any, kwargs: dict[str, Any], error: type, match: str
) -> None:
    everything = mock.route().mock(side_effect=answer)
    with Router(config()) as r, pytest.raises(error, match=match) as e:
        r.embed(value, **kwargs)
    assert "surrogate" in str(e.value) or "\ud800" not in str(e.value)
    assert "hex" not in str(e.value).replace("encoding_format", "")
    assert not everything.called


def test_audit_record_names_the_operation(mock: respx.MockRouter, tmp_path: Path) -> None:
    mock.post(LOCAL).mock(side_effect=answer)
    log = tmp_path / "audit.jsonl"
    cfg = config(telemetry={"enabled": False, "audit_log": str(log)})
    with Router(cfg) as r:
        resp = r.embed(["mail jane.doe@example.com", "x"], context={"tenant": "acme"})
        with pytest.raises(NoEligibleTarget):
            r.embed("hi", model="cloud-emb", context={"sensitivity": "confidential"})
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    ok, denied = recs
    assert ok["operation"] == "embeddings" and ok["outcome"] == "ok"
    assert ok["sensitivity"] == "confidential" and ok["detectors"] == ["email"]
    assert ok["target"] == "local-emb" and ok["zone"] == "local"
    assert ok["input_tokens"] == resp.usage.prompt_tokens and ok["output_tokens"] == 0
    assert [a["outcome"] for a in ok["attempts"]] == ["ok"]
    assert "jane.doe" not in log.read_text()
    assert denied["outcome"] == "denied"
    from router.telemetry.audit import verify_log

    assert verify_log(log).ok


def test_spans_say_embeddings(mock: respx.MockRouter, otel: Otel) -> None:
    mock.post(CLOUD).mock(return_value=httpx.Response(503, json={"error": {"message": "x"}}))
    mock.post(LOCAL).mock(side_effect=answer)
    with Router(config(telemetry={"enabled": True}), **otel.providers) as r:
        resp = r.embed(["a", "bb"], context={"tenant": "acme"})
    route = otel.span("route default")
    first = otel.span("embeddings text-embedding-3-small")
    second = otel.span("embeddings bge-small")
    assert route.attributes[sc.OPERATION_NAME] == "embeddings"
    assert route.attributes[sc.TARGET] == "local-emb"
    assert route.attributes[sc.USAGE_INPUT_TOKENS] == resp.usage.prompt_tokens
    assert route.attributes[sc.USAGE_OUTPUT_TOKENS] == 0
    for s in (first, second):
        assert s.kind is SpanKind.CLIENT and s.attributes[sc.OPERATION_NAME] == "embeddings"
    assert first.attributes[sc.ERROR_TYPE] == "ProviderUnavailable"
    assert sc.ERROR_TYPE not in second.attributes  # the answer is not a cancelled try
    assert second.attributes[sc.FALLBACK_REASON] == "ProviderUnavailable"
    # The answered try carries its usage and the vectors' length; no output tokens.
    assert second.attributes[sc.USAGE_INPUT_TOKENS] == resp.usage.prompt_tokens
    assert second.attributes[sc.EMBEDDINGS_DIMENSION_COUNT] == 3
    assert sc.USAGE_OUTPUT_TOKENS not in second.attributes
    assert sc.RESPONSE_FINISH_REASONS not in second.attributes
    assert second.end_time is not None and second.end_time <= route.end_time
    tokens = otel.points(sc.METRIC_TOKEN_USAGE)
    assert [p.attributes[sc.TOKEN_TYPE] for p in tokens] == [sc.TOKEN_TYPE_INPUT]
    assert tokens[0].sum == resp.usage.prompt_tokens
    assert tokens[0].attributes[sc.OPERATION_NAME] == "embeddings"


def test_a_denied_embedding_span_says_embeddings(otel: Otel) -> None:
    with (
        Router(config(telemetry={"enabled": True}), **otel.providers) as r,
        pytest.raises(NoEligibleTarget),
    ):
        r.embed("hi", model="cloud-emb", context={"sensitivity": "confidential"})
    assert otel.span("route cloud-emb").attributes[sc.OPERATION_NAME] == "embeddings"


def test_async_embed_matches_sync(mock: respx.MockRouter) -> None:
    mock.post(CLOUD).mock(return_value=httpx.Response(503, json={"error": {"message": "x"}}))
    mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["providers"]["gpu"]["options"] = {"embedding_batch_size": 3}

    async def go() -> Any:
        async with AsyncRouter(cfg) as r:
            return await r.embed(DOCS)

    a = asyncio.run(go())
    with Router(cfg) as r:
        s = r.embed(DOCS)
    assert a.vectors == s.vectors == [vector(t) for t in DOCS]
    assert a.route is not None and s.route is not None
    assert [(x.target, x.outcome) for x in a.route.attempts] == [
        (x.target, x.outcome) for x in s.route.attempts
    ]


def test_async_deadline_bounds_the_whole_try(mock: respx.MockRouter) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.5)
        return answer(request)

    mock.post(CLOUD).mock(side_effect=slow)
    mock.post(LOCAL).mock(side_effect=slow)

    async def go() -> None:
        async with AsyncRouter(config()) as r:
            await r.embed("hi", context={"deadline_s": 0.1})

    from router.errors import ProviderTimeout

    with pytest.raises(ProviderTimeout):
        asyncio.run(go())


def test_a_model_name_is_a_one_model_route(mock: respx.MockRouter) -> None:
    local = mock.post(LOCAL).mock(side_effect=answer)
    with Router(config()) as r:
        resp = r.embed("hi", model="local-emb")
    assert resp.route is not None and resp.route.target == "local-emb" and local.called


def test_retries_follow_the_route(mock: respx.MockRouter) -> None:
    replies = iter([httpx.Response(503, json={"error": {"message": "busy"}})])

    def once_busy(request: httpx.Request) -> httpx.Response:
        return next(replies, None) or answer(request)

    cloud = mock.post(CLOUD).mock(side_effect=once_busy)
    cfg = config()
    cfg["routes"]["default"]["retry"] = {"attempts": 2, "backoff": {"initial_s": 0, "jitter": 0}}
    with Router(cfg) as r:
        resp = r.embed("hi")
    assert cloud.call_count == 2
    assert resp.route is not None
    assert [(a.target, a.outcome) for a in resp.route.attempts] == [
        ("cloud-emb", "error"),
        ("cloud-emb", "ok"),
    ]


def test_a_breaker_opened_by_embeddings_skips_the_target(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD).mock(return_value=httpx.Response(503, json={"error": {}}))
    mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["providers"]["cloud"]["breaker"] = {"failures": 2, "cooldown_s": 60}
    with Router(cfg) as r:
        r.embed("a")
        r.embed("b")
        # The open breaker: the cloud target is ranked last, and not contacted again.
        assert r.explain_embed("c").target_names == ("local-emb", "cloud-emb")
        resp = r.embed("c")
        with pytest.raises(ProviderUnavailable) as e:
            r.embed("d", model="cloud-emb")  # nothing else to try: the breaker refuses
    assert e.value.code == "breaker_open"
    assert cloud.call_count == 2
    assert resp.route is not None and resp.route.target == "local-emb"
    assert [a.target for a in resp.route.attempts] == ["local-emb"]


def test_a_provider_without_an_embeddings_api_is_excluded(mock: respx.MockRouter) -> None:
    cfg = config()
    cfg["providers"]["claude"] = {"kind": "anthropic", "api_key": CLOUD_KEY}
    cfg["models"]["claude-emb"] = {
        "provider": "claude",
        "model": "claude-x",
        "capabilities": ["embeddings"],
    }
    cfg["routes"]["default"]["candidates"] = ["claude-emb", "local-emb"]
    with Router(cfg) as r:
        d = r.explain_embed("hi")
        with pytest.raises(NoEligibleTarget, match="no embeddings API"):
            r.embed("hi", model="claude-emb")
    assert d.target_names == ("local-emb",)
    assert any("no embeddings API" in x for x in d.excluded["claude-emb"])


def test_the_audit_log_verifies_against_the_policy(mock: respx.MockRouter, tmp_path: Path) -> None:
    from router.config import load_dict
    from router.telemetry.audit import verify_log

    mock.post(CLOUD).mock(return_value=httpx.Response(503, json={"error": {}}))
    mock.post(LOCAL).mock(side_effect=answer)
    log = tmp_path / "audit.jsonl"
    cfg = config(telemetry={"enabled": False, "audit_log": str(log)})
    with Router(cfg) as r:
        r.embed(["a", "b"])
        r.embed(["jane.doe@example.com"])
    report = verify_log(log, load_dict(cfg))
    assert report.ok, str(report)
    assert len(log.read_text().splitlines()) == 2


def test_hedging_races_two_embedding_targets(mock: respx.MockRouter) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.5)
        return answer(request)

    mock.post(CLOUD).mock(side_effect=slow)
    mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["routes"]["default"]["hedge_after_ms"] = 50
    with Router(cfg) as r:
        resp = r.embed(["a", "b"])
    assert resp.route is not None and resp.route.target == "local-emb"
    assert resp.vectors == [vector("a"), vector("b")]
    assert {(a.target, a.outcome) for a in resp.route.attempts} == {
        ("cloud-emb", "cancelled"),
        ("local-emb", "ok"),
    }


@settings(max_examples=25, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet="abc xyz.,", min_size=1, max_size=30).filter(str.strip),
        min_size=1,
        max_size=12,
    ),
    secret_at=st.one_of(st.none(), st.integers(min_value=0, max_value=11)),
    batch=st.integers(min_value=1, max_value=5),
    local_fails=st.booleans(),
)
def test_property_order_and_closure(
    texts: list[str], secret_at: int | None, batch: int, local_fails: bool
) -> None:
    """Whatever the inputs, batch size and failures: vectors come back in input order,
    and a call holding a confidential input never reaches the frontier target."""
    if secret_at is not None:
        texts = list(texts)
        texts.insert(min(secret_at, len(texts)), "contact jane.doe@example.com")
    cfg = config()
    for p in ("cloud", "gpu"):
        cfg["providers"][p]["options"] = {"embedding_batch_size": batch}
    cfg["routes"]["default"] = {"candidates": ["local-emb", "cloud-emb"], "retry": {"attempts": 1}}
    with respx.mock(assert_all_called=False) as m:
        cloud = m.post(CLOUD).mock(side_effect=answer)
        if local_fails:
            m.post(LOCAL).mock(return_value=httpx.Response(500, json={"error": {}}))
        else:
            m.post(LOCAL).mock(side_effect=answer)
        with Router(cfg) as r:
            try:
                resp = r.embed(texts)
            except ProviderUnavailable:
                assert secret_at is not None and local_fails
                resp = None
    if secret_at is not None:
        assert not cloud.called
    if resp is not None:
        assert resp.vectors == [vector(t) for t in texts]
        assert [d.index for d in resp.data] == list(range(len(texts)))


def _yaml_config(tmp_path: Path) -> str:
    import yaml

    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(config()))
    return str(path)


def test_cli_explain_an_embedding_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.cli import main

    path = _yaml_config(tmp_path)
    assert main(["explain", path, "--input", "gardening", "--input", "jane.doe@example.com"]) == 0
    out = capsys.readouterr().out
    assert "operation=embeddings" in out and "sensitivity=confidential" in out
    assert "planned: primary" in out and "local-emb" in out
    body = tmp_path / "req.json"
    body.write_text(json.dumps({"input": ["a", "b"], "dimensions": 8, "model": "cloud-emb"}))
    assert main(["explain", path, "--file", str(body), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["operation"] == "embeddings" and [p["target"] for p in d["plan"]] == ["cloud-emb"]
    # A chat parameter on an embedding request, and a chat message to an embedding route.
    assert main(["explain", path, "--input", "a", "--max-tokens", "5"]) == 2
    assert "unknown embed parameter" in capsys.readouterr().err
    assert main(["explain", path, "--message", "hi"]) == 2
    assert "call embed()" in capsys.readouterr().err


# -- scanning the inputs joined ------------------------------------------------

_SENSITIVE = [
    "jane.doe@example.com",
    "jane.doe%40example.com",
    "jane.doe\\u0040example.com",
    "jane.doe&#64;example.com",
    "j.d+tag@example.co.uk",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "SSN: 123-45-6788",
    "GB82 WEST 1234 5698 7654 32",
    "aws AKIAIOSFODNN7EXAMPLE",
    "token ghp_" + "A1b2" * 9,
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
]
_RNG = random.Random(18)
_SENSITIVE += [
    f"{label} {make(_RNG)}"
    for label, make in (
        ("codice fiscale", ids.codice_fiscale),
        ("BSN", ids.bsn),
        ("PESEL", ids.pesel),
        ("CPF", ids.cpf),
        ("NINO", ids.nino),
        ("DNI", ids.dni),
        ("Aadhaar", ids.aadhaar),
    )
]
_FILLER = [
    "plain words",
    " | ",
    "\\",
    "%",
    "&",
    ";",
    "+",
    "\n",
    "  ",
    "a|b",
    "x@",
    "@y",
    "12 34",
    "-",
]


# Whole values, fillers, and each value cut in two: inputs that end with one half
# and begin with the other are common.
_PIECES = (
    _SENSITIVE
    + _FILLER
    + [half for v in _SENSITIVE for half in (v[: len(v) // 2], v[len(v) // 2 :])]
    + ["Night", "Owl"] * 4
)


@settings(max_examples=500, deadline=None)
@example(["a Night", "Owl b"])
@example(["4111 111", "1 1111 1111"])
@example(["jane.doe@", "example.com"])
@example(["x\\", "u0040y"])  # an escape cut in two
@example([";example.com", "jane.doe&#64jane.doe@e"])  # once found only joined
@given(
    st.lists(
        st.lists(st.sampled_from(_PIECES), min_size=1, max_size=3).map("".join),
        min_size=1,
        max_size=6,
    )
)
def test_scanning_the_inputs_joined_finds_what_scanning_each_finds(inputs: list[str]) -> None:
    """The joined scan never misses what scanning every input alone finds: the same
    level or higher, every detector that fires on some input (a decoding one input's
    text triggers applies to the whole joined text: it may only find more)."""
    from router.embeddings.decide import as_chat
    from router.embeddings.types import EmbeddingRequest
    from router.policy.canonical import scan_inputs, scan_texts

    policy = _policy()
    chat = as_chat(EmbeddingRequest(input=tuple(inputs)))
    each = [policy.classify([t]) for t in inputs]
    alone_level = max(level for level, _ in each)
    alone_found = {name for _, counts in each for name in counts}
    joined_level, joined_counts = policy.classify(scan_inputs(chat)[:1])  # the joined text only
    assert joined_level >= alone_level
    assert set(joined_counts) >= alone_found
    # And the whole embedding scan finds what the chat scan of the same messages finds.
    emb_level, emb_counts = policy.classify(scan_inputs(chat))
    chat_level, chat_counts = policy.classify(scan_texts(chat))
    assert emb_level >= chat_level
    assert set(emb_counts) >= set(chat_counts)


@functools.cache
def _policy() -> Any:
    from router.config import load_dict
    from router.policy import Policy

    cfg = config()
    cfg["sensitivity"] = {
        "detect": [
            {"detector": d, "level": "confidential"}
            for d in ("email", "phone", "payment_card", "us_ssn", "iban", "credential")
        ]
        + [
            {"detector": "national_id", "level": "restricted"},
            {
                "detector": "keywords",
                "name": "codenames",
                "keywords": ["Night Owl"],
                "level": "restricted",
            },
        ]
    }
    return Policy(load_dict(cfg))


def test_a_policy_with_a_user_pattern_scans_each_input_alone(mock: respx.MockRouter) -> None:
    # An anchored pattern matches at the start of an input, not inside a joined text.
    cfg = config()
    cfg["sensitivity"] = {
        "detect": [
            {
                "detector": "regex",
                "name": "leading-code",
                "pattern": "^PRJ-[0-9]{4}",
                "level": "confidential",
            }
        ]
    }
    with Router(cfg) as r:
        d = r.explain_embed(["gardening", "PRJ-1234 launch plan"])
    assert d.sensitivity.level == "confidential" and d.target_names == ("local-emb",)


def test_policy_test_files_take_embedding_cases(tmp_path: Path) -> None:
    import yaml

    from router.config import load_dict
    from router.policy.testing import run_file

    cases = {
        "tests": [
            {
                "name": "a document with an email is embedded at home",
                "input": ["gardening", "mail jane.doe@example.com"],
                "expect": {"plan": ["local-emb"], "sensitivity": "confidential"},
            },
            {
                "name": "public documents may use the cloud",
                "input": ["gardening"],
                "params": {"dimensions": 256},
                "expect": {"target": "cloud-emb", "excluded": {}},
            },
            {
                "name": "wrong on purpose",
                "input": ["gardening"],
                "expect": {"target": "local-emb"},
            },
            {
                "name": "a chat param",
                "input": ["x"],
                "params": {"max_tokens": 5},
                "expect": {"denied": False},
            },
        ]
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cases))
    ok, ok2, wrong, bad = run_file(load_dict(config()), path)
    assert ok.passed and ok2.passed, (ok.failures, ok2.failures)
    assert ok.decision is not None and ok.decision.operation == "embeddings"
    assert wrong.failures == ["target: expected 'local-emb', got 'cloud-emb'"]
    assert bad.failures and "unknown embed parameter" in bad.failures[0]


def test_the_context_window_bounds_the_longest_input_not_the_batch(
    mock: respx.MockRouter,
) -> None:
    cfg = config()
    cfg["models"]["local-emb"]["context_window"] = 64
    cfg["routes"]["default"]["candidates"] = ["local-emb"]
    with Router(cfg) as r:
        many_short = r.explain_embed(["a short document about gardening"] * 50)
        with pytest.raises(NoEligibleTarget, match="context window: 64"):
            r.explain_embed(["short", "word " * 100])
    assert many_short.target_names == ("local-emb",)
    assert many_short.input_tokens > 64  # the whole call is larger than one window


def test_validate_warns_about_embedding_models_that_cannot_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from router.cli import main

    cfg = config()
    cfg["providers"]["gpu"]["options"] = {"embedding_batch_size": 0}
    cfg["providers"]["claude"] = {"kind": "anthropic", "api_key": CLOUD_KEY}
    cfg["models"]["claude-emb"] = {
        "provider": "claude",
        "model": "c",
        "capabilities": ["embeddings"],
    }
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "providers.gpu.options.embedding_batch_size: must be a positive integer" in err
    assert "models.claude-emb: provider kind anthropic has no embeddings API" in err
    assert CLOUD_KEY not in err
    # At call time the same option is a ConfigError before anything is sent.
    with respx.mock(assert_all_called=False) as m:
        everything = m.route().mock(side_effect=answer)
        with Router(cfg) as r, pytest.raises(ConfigError, match="embedding_batch_size"):
            r.embed("hi", model="local-emb")
    assert not everything.called


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_try_that_failed_after_answered_batches_is_charged(
    mock: respx.MockRouter, mode: str
) -> None:
    calls = {"n": 0}

    def second_fails(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return answer(request)

    mock.post(CLOUD).mock(side_effect=second_fails)
    mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["providers"]["cloud"]["options"] = {"embedding_batch_size": 4}
    cfg["rules"].append(_budget(100.0))
    ctx = {"tenant": "acme"}
    if mode == "sync":
        with Router(cfg) as r:
            resp = r.embed(DOCS, context=ctx)
            recs = read_ledger(r.store)
            worst = r.explain_embed(DOCS).costs["cloud-emb"]
    else:

        async def go() -> Any:
            async with AsyncRouter(cfg) as r:
                out = await r.embed(DOCS, context=ctx)
                return out, read_ledger(r.store), r.explain_embed(DOCS).costs["cloud-emb"]

        resp, recs, worst = asyncio.run(go())
    assert resp.route is not None and resp.route.target == "local-emb"
    by_target = {rec.target: rec for rec in recs}
    # The cloud billed the first batch of 4: charged at its worst case, flagged.
    cloud = by_target["cloud-emb"]
    assert cloud.outcome == "unknown" and cloud.estimated
    assert cloud.cost_usd == pytest.approx(worst) and cloud.cost_usd > 0
    assert by_target["local-emb"].outcome == "ok"


def test_a_try_that_failed_on_its_first_batch_is_not_charged(mock: respx.MockRouter) -> None:
    mock.post(CLOUD).mock(return_value=httpx.Response(500, json={"error": {"message": "x"}}))
    mock.post(LOCAL).mock(side_effect=answer)
    cfg = config()
    cfg["rules"].append(_budget(100.0))
    with Router(cfg) as r:
        r.embed(DOCS, context={"tenant": "acme"})
        recs = read_ledger(r.store)
    assert [(x.target, x.outcome) for x in recs] == [("local-emb", "ok")]


def test_captured_content_is_redacted_and_holds_no_vectors(
    mock: respx.MockRouter, otel: Otel
) -> None:
    mock.post(LOCAL).mock(side_effect=answer)
    cfg = config(telemetry={"enabled": True, "capture_content": True})
    with Router(cfg, **otel.providers) as r:
        r.embed(["mail jane.doe@example.com", f"key {LOCAL_KEY}"])
    span = otel.span("embeddings bge-small")
    inputs = json.loads(str(span.attributes[sc.INPUT_MESSAGES]))
    assert [m["parts"][0]["content"] for m in inputs] == ["mail [EMAIL]", "key [CREDENTIAL]"]
    assert sc.OUTPUT_MESSAGES not in span.attributes
    rendered = json.dumps({k: str(v) for s in otel.spans() for k, v in s.attributes.items()})
    assert "jane.doe" not in rendered and LOCAL_KEY not in rendered


def test_a_compressed_answer_is_decoded(mock: respx.MockRouter) -> None:
    def gzipped(request: httpx.Request) -> httpx.Response:
        plain = answer(request)
        return httpx.Response(
            200,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
            content=gzip.compress(plain.content),
        )

    cloud = mock.post(CLOUD).mock(side_effect=gzipped)
    with Router(config()) as r:
        resp = r.embed(["a", "bc"])
    assert resp.vectors == [vector("a"), vector("bc")]
    assert cloud.calls[0].request.headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("exc", "code"),
    [(httpx.ConnectError, "connection"), (httpx.ReadTimeout, "timeout")],
)
def test_a_transport_failure_is_a_provider_error_that_quotes_no_key(
    mock: respx.MockRouter, exc: type[Exception], code: str
) -> None:
    mock.post(CLOUD).mock(side_effect=exc(f"failed with {CLOUD_KEY}"))
    mock.post(LOCAL).mock(side_effect=exc(f"failed with {LOCAL_KEY}"))
    with Router(config()) as r, pytest.raises(ProviderError) as e:
        r.embed("hi")
    assert e.value.code == code
    assert CLOUD_KEY not in str(e.value) and LOCAL_KEY not in str(e.value)


def test_the_request_on_the_wire_is_what_httpx_would_send() -> None:
    """Router.embed writes through the transport's connection pool; a real socket
    receives the request line, headers and body an ``httpx.Request`` holds."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    got: list[bytes] = []
    reply = json.dumps(
        {"data": [{"index": 0, "embedding": [0.5, 0.25]}], "usage": {"prompt_tokens": 2}}
    ).encode()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf or len(buf.split(b"\r\n\r\n", 1)[1]) < int(
                buf.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]
            ):
                buf += conn.recv(65536)
            got.append(buf)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(reply), reply)
            )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    cfg = config()
    cfg["providers"]["cloud"]["base_url"] = f"http://127.0.0.1:{port}/v1"
    try:
        with Router(cfg) as r:
            resp = r.embed("héllo")
    finally:
        thread.join(5)
        srv.close()
    assert resp.vectors == [[0.5, 0.25]] and resp.usage.prompt_tokens == 2
    head, body = got[0].split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/embeddings HTTP/1.1"
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert headers == {
        b"host": f"127.0.0.1:{port}".encode(),
        b"user-agent": headers[b"user-agent"],
        b"accept-encoding": b"gzip, deflate",
        b"content-type": b"application/json",
        b"accept": b"application/json",
        b"authorization": f"Bearer {CLOUD_KEY}".encode(),
        b"content-length": str(len(body)).encode(),
    }
    assert headers[b"user-agent"].startswith(b"llm-policy-router/")
    assert json.loads(body) == {"model": "text-embedding-3-small", "input": ["héllo"]}
