"""Shadow traffic: background, bounded, policy-checked, compared, never returned."""

# ruff: noqa: F811  (pytest fixtures imported from migration_fixtures)

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from router import AsyncRouter, Router
from router.cli import main
from router.errors import NoEligibleTarget
from router.migration import sampled, similarity, summarise_log, summarise_store
from router.policy import Policy

from .migration_fixtures import ASK, FakeServer, local, paid  # noqa: F401


def shadow_config(
    paid: FakeServer, local: FakeServer, log: Path | None = None, **shadow: Any
) -> dict[str, Any]:
    sh = {"model": "llama", "sample_pct": 100, **shadow}
    if log is not None:
        sh["log"] = str(log)
    return {
        "providers": {
            "openai": {"kind": "vllm", "base_url": paid.url, "zone": "frontier"},
            "gpu": {"kind": "vllm", "base_url": local.url, "zone": "local"},
        },
        "models": {
            "gpt": {"provider": "openai", "model": "gpt-x", "price": {"input": 2, "output": 8}},
            "llama": {"provider": "gpu", "model": "llama-x"},
        },
        "routes": {"support": {"candidates": ["gpt"], "shadow": sh}},
    }


def wait_for(cond: Any, what: str) -> None:
    """Poll for an event that must happen (a bound on hanging, not a timing assertion)."""
    deadline = time.monotonic() + 20
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


def _plain(resp: Any) -> dict[str, Any]:
    d = resp.model_dump()
    for a in d["route"]["attempts"]:
        a.pop("latency_s")
    d["route"].pop("decision_id")
    return d


def test_a_shadow_is_compared_recorded_and_never_returned(
    paid: FakeServer, local: FakeServer, tmp_path: Path
) -> None:
    log = tmp_path / "shadow.jsonl"
    no_shadow = shadow_config(paid, local)
    del no_shadow["routes"]["support"]["shadow"]
    with Router(no_shadow) as plain:
        alone = plain.chat(ASK, model="support", context={"user": "u1"})
    assert local.calls == 0
    r = Router(shadow_config(paid, local, log))
    resp = r.chat(ASK, model="support", context={"user": "u1"})
    r.close()  # waits for the shadows in flight
    assert _plain(resp) == _plain(alone), "a shadow never alters the primary response"
    assert resp.content == paid.reply and resp.route is not None and resp.route.target == "gpt"
    assert local.calls == 1 and local.bodies[0]["model"] == "llama-x"
    s = summarise_store(r.store, "support", "llama")
    assert s["pairs"] == 1 and s["sampled"] == 1 and s["exact_match_pct"] == 0
    assert s["mean_similarity"] == pytest.approx(similarity(paid.reply, local.reply))
    assert s["primary_cost_usd"] > 0 and s["shadow_cost_usd"] == 0
    (rec,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert rec["primary"]["target"] == "gpt" and rec["shadow"]["target"] == "llama"
    assert rec["primary"]["finish_reason"] == rec["shadow"]["finish_reason"] == "stop"
    assert rec["shadow"]["completion_tokens"] == len(local.reply.split())
    assert rec["shadow"]["chars"] == len(local.reply)
    text = log.read_text()
    assert paid.reply not in text and local.reply not in text and "capital" not in text
    assert summarise_log(str(log), "support")["pairs"] == 1


def test_the_primary_does_not_wait_for_its_shadow(paid: FakeServer, local: FakeServer) -> None:
    local.gate = threading.Event()  # the shadow target hangs until released
    r = Router(shadow_config(paid, local))
    resp = r.chat(ASK, model="support")
    wait_for(lambda: local.calls == 1, "the shadow reached its target")
    # The primary answered while its shadow is still held by the server.
    assert resp.content == paid.reply
    assert summarise_store(r.store, "support", "llama")["pairs"] == 0
    local.gate.set()
    r.close()
    assert summarise_store(r.store, "support", "llama")["pairs"] == 1


def test_saturated_shadows_are_dropped_and_counted(paid: FakeServer, local: FakeServer) -> None:
    local.gate = threading.Event()
    r = Router(shadow_config(paid, local, max_concurrency=1))
    for i in range(4):
        assert r.chat(ASK, model="support", context={"user": f"u{i}"}).content == paid.reply
    local.gate.set()
    r.close()
    s = summarise_store(r.store, "support", "llama")
    assert (s["sampled"], s["dropped"], s["pairs"]) == (4, 3, 1)
    assert local.calls == 1


def test_a_failing_shadow_is_counted_and_harmless(paid: FakeServer, local: FakeServer) -> None:
    local.fail = True
    with Router(shadow_config(paid, local)) as r:
        assert r.chat(ASK, model="support").content == paid.reply
    s = summarise_store(r.store, "support", "llama")
    assert (s["shadow_errors"], s["pairs"]) == (1, 0)


def test_a_stream_is_shadowed_once_it_ended(paid: FakeServer, local: FakeServer) -> None:
    r = Router(shadow_config(paid, local))
    with r.stream(ASK, model="support") as s:
        chunks = iter(s)
        text = next(chunks).delta_text
        assert summarise_store(r.store, "support", "llama")["sampled"] == 0
        text += "".join(c.delta_text for c in chunks)
    assert text.strip() == paid.reply
    r.close()
    assert summarise_store(r.store, "support", "llama")["pairs"] == 1
    assert local.bodies[0].get("stream") in (None, False)  # the copy is a plain completion


async def test_an_async_stream_is_shadowed_once_it_ended(
    paid: FakeServer, local: FakeServer
) -> None:
    r = AsyncRouter(shadow_config(paid, local))
    async with r.stream(ASK, model="support") as s:
        text = "".join([c.delta_text async for c in s])
    assert text.strip() == paid.reply
    await r.aclose()
    assert summarise_store(r.store, "support", "llama")["pairs"] == 1


def test_sampling_is_deterministic_per_request() -> None:
    ids = [f"d{i}" for i in range(4000)]
    picked = [i for i in ids if sampled("support", i, 25)]
    assert picked == [i for i in ids if sampled("support", i, 25)]
    assert abs(len(picked) / len(ids) - 0.25) < 0.03
    assert not any(sampled("support", i, 0) for i in ids)
    assert all(sampled("support", i, 100) for i in ids)


def test_no_shadow_when_the_primary_already_used_the_shadow_target(
    paid: FakeServer, local: FakeServer
) -> None:
    cfg = shadow_config(paid, local)
    cfg["routes"]["support"] = {
        "candidates": ["llama"],
        "shadow": {"model": "llama", "sample_pct": 100},
    }
    with Router(cfg) as r:
        r.chat(ASK, model="support")
    s = summarise_store(r.store, "support", "llama")
    assert (s["skipped_same_target"], s["pairs"], local.calls) == (1, 0, 1)


class _RefusingPolicy:
    """Every Policy, except that it admits no shadow target (as a rule would)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[str] = []
        inner = Policy.decide

        def decide(policy: Policy, *args: Any, **kwargs: Any) -> Any:
            self.asked.append(kwargs["model"])
            if kwargs["model"] == "llama":
                raise NoEligibleTarget("zone frontier not allowed for confidential")
            return inner(policy, *args, **kwargs)

        monkeypatch.setattr(Policy, "decide", decide)


def test_the_policy_is_asked_for_the_shadow_and_a_refusal_means_no_shadow(
    paid: FakeServer, local: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Router(shadow_config(paid, local))
    refusing = _RefusingPolicy(monkeypatch)
    assert r.chat(ASK, model="support").content == paid.reply
    r.close()
    assert refusing.asked == ["support", "llama"]  # the primary's decision, then the shadow's
    assert local.calls == 0
    assert summarise_store(r.store, "support", "llama")["refused"] == 1


def _confidential_config(paid: FakeServer, local: FakeServer) -> dict[str, Any]:
    # Primary on the local box; the shadow candidate is a hosted API.
    return {
        "providers": {
            "gpu": {"kind": "vllm", "base_url": local.url, "zone": "local"},
            "hosted": {"kind": "vllm", "base_url": paid.url, "zone": "hosted"},
        },
        "models": {
            "llama": {"provider": "gpu", "model": "llama-x"},
            "llama-hosted": {"provider": "hosted", "model": "llama-h"},
        },
        "rules": [
            {
                "name": "confidential-stays-home",
                "when": {"sensitivity": ">= confidential"},
                "allow": {"zone": ["local"]},
            },
        ],
        "routes": {
            "support": {
                "candidates": ["llama"],
                "shadow": {"model": "llama-hosted", "sample_pct": 100},
            }
        },
    }


def test_no_shadow_for_a_request_whose_sensitivity_forbids_the_target(
    paid: FakeServer, local: FakeServer
) -> None:
    with Router(_confidential_config(paid, local)) as r:
        resp = r.chat(ASK, model="support", context={"sensitivity": "confidential"})
        assert resp.route is not None and resp.route.zone == "local"
    assert paid.calls == 0, "a confidential request was copied to a hosted target"
    assert summarise_store(r.store, "support", "llama-hosted")["refused"] == 1


def test_a_public_request_is_shadowed_to_the_hosted_target(
    paid: FakeServer, local: FakeServer
) -> None:
    with Router(_confidential_config(paid, local)) as r:
        r.chat(ASK, model="support", context={"sensitivity": "public"})
    assert paid.calls == 1 and paid.bodies[0]["model"] == "llama-h"


def test_report_summarises_the_shadows(
    paid: FakeServer,
    local: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "pairs.jsonl"
    cfg = shadow_config(paid, local, log)
    with Router(cfg) as r:
        for i in range(3):
            r.chat(ASK, model="support", context={"user": f"u{i}"})
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setattr("router.state.open_store", lambda url: r.store)
    assert main(["migration", "report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "route support: shadow llama at 100%" in out
    assert out.count("3 pairs compared") == 2  # from the store and from the log
    assert "exact match 0.0%" in out and "cost primary $" in out
    assert main(["migration", "report", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["support"]["log"]["pairs"] == 3 and data["support"]["store"]["sampled"] == 3


# -- async ---------------------------------------------------------------------


async def test_async_shadow_runs_in_the_background_and_is_bounded(
    paid: FakeServer, local: FakeServer, tmp_path: Path
) -> None:
    local.gate = threading.Event()
    r = AsyncRouter(shadow_config(paid, local, tmp_path / "a.jsonl", max_concurrency=2))
    answers = [await r.chat(ASK, model="support", context={"user": f"u{i}"}) for i in range(5)]
    assert all(a.content == paid.reply for a in answers)
    s = summarise_store(r.store, "support", "llama")
    assert (s["sampled"], s["dropped"], s["pairs"]) == (5, 3, 0)
    local.gate.set()
    await r.aclose()
    assert summarise_store(r.store, "support", "llama")["pairs"] == 2
    assert local.calls == 2


async def test_async_refusal_and_failure(
    paid: FakeServer, local: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.fail = True
    async with AsyncRouter(shadow_config(paid, local)) as r:
        assert (await r.chat(ASK, model="support")).content == paid.reply
    assert summarise_store(r.store, "support", "llama")["shadow_errors"] == 1
    r2 = AsyncRouter(shadow_config(paid, local))
    refusing = _RefusingPolicy(monkeypatch)
    await r2.chat(ASK, model="support")
    await r2.aclose()
    assert refusing.asked == ["support", "llama"]
    assert summarise_store(r2.store, "support", "llama")["refused"] == 1


def test_a_shadow_leaves_its_own_audit_record(
    paid: FakeServer, local: FakeServer, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    cfg = shadow_config(paid, local)
    cfg["telemetry"] = {"audit_log": str(audit)}
    with Router(cfg) as r:
        resp = r.chat(ASK, model="support", context={"tenant": "acme"})
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert len(records) == 2
    primary = next(x for x in records if x["decision_id"] == resp.route.decision_id)  # type: ignore[union-attr]
    shadow = next(x for x in records if x is not primary)
    assert (primary["route"], primary["target"]) == ("support", "gpt")
    assert (shadow["route"], shadow["target"], shadow["zone"]) == ("llama", "llama", "local")
    assert [p["target"] for p in shadow["plan"]] == ["llama"]
    assert shadow["tenant"] == "acme" and shadow["outcome"] == "ok"


def test_a_route_scoped_rule_keeps_the_shadow_home(paid: FakeServer, local: FakeServer) -> None:
    # Deciding for the shadow model by name would not match `route: support`;
    # the primary Decision, taken with the route's facts, refuses the copy.
    cfg = _confidential_config(paid, local)
    cfg["rules"] = [
        {"name": "support-stays-home", "when": {"route": "support"}, "allow": {"zone": ["local"]}}
    ]
    with Router(cfg) as r:
        r.chat(ASK, model="support", context={"sensitivity": "public"})
    assert paid.calls == 0
    assert summarise_store(r.store, "support", "llama-hosted")["refused"] == 1
