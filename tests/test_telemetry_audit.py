"""The audit log: records, hash chain, tamper detection, policy re-check, concurrency, CLI."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

from router import Router
from router.cli import main
from router.config import load_dict
from router.errors import NoEligibleTarget, ProviderUnavailable
from router.telemetry.audit import GENESIS, AuditLog, policy_hash, verify_log
from tests.telemetry_support import (
    CLOUD_URL,
    KEYS,
    LOCAL_URL,
    completion,
    error_body,
    make_config,
    sse_response,
)

pytest_plugins = ["tests.telemetry_fixtures"]

# Nothing a detector would flag (so fallbacks to the frontier target stay allowed),
# plus a marker that must never reach the log.
MARKER = "zebra-quartz-marker"
MSG = [{"role": "user", "content": f"Tell me about {MARKER}"}]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _run_mixed(path: Path, mock: respx.MockRouter) -> Router:
    """Success, fallback, total failure, stream and a denial, audited to ``path``."""
    cfg = make_config(enabled=False, audit_log=str(path))
    r = Router(cfg)
    local = mock.post(LOCAL_URL)
    cloud = mock.post(CLOUD_URL)
    local.mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    r.chat(MSG, context={"tenant": "acme", "tags": ["audit"]})  # 1: ok on local
    local.mock(return_value=error_body(503, "down"))
    cloud.mock(return_value=httpx.Response(200, json=completion("gpt-x")))
    r.chat(MSG)  # 2: fallback to frontier (internal: allowed)
    with pytest.raises(ProviderUnavailable):
        r.chat(MSG, model="solo")  # 3: failed
    local.mock(return_value=sse_response("smol-135m", ["a", "b"]))
    with r.stream(MSG) as s:
        list(s)  # 4: stream
    with pytest.raises(NoEligibleTarget):
        r.chat(MSG, model="big", context={"sensitivity": "confidential"})  # 5: denied
    r.close()  # a background thread writes the log: closing flushes it
    return r


def test_one_record_per_request_with_what_an_auditor_needs(
    tmp_path: Path, mock: respx.MockRouter
) -> None:
    log = tmp_path / "audit.jsonl"
    r = _run_mixed(log, mock)
    recs = _lines(log)
    assert [x["outcome"] for x in recs] == ["ok", "ok", "error", "ok", "denied"]
    assert [x["seq"] for x in recs] == [1, 2, 3, 4, 5]
    assert recs[0]["prev"] == GENESIS
    assert all(recs[i]["prev"] == recs[i - 1]["hash"] for i in range(1, 5))
    first = recs[0]
    assert first["tenant"] == "acme" and first["tags"] == ["audit"]
    assert first["route"] == "default" and first["sensitivity"] == "internal"
    assert [p["target"] for p in first["plan"]] == ["small", "big"]
    assert first["target"] == "small" and first["zone"] == "local"
    assert first["attempts"][0]["zone"] == "local"
    assert first["input_tokens"] == 12 and first["cost_usd"] == 0
    assert first["policy_hash"] == policy_hash(r.config)
    second = recs[1]
    assert [(a["target"], a["zone"], a["outcome"]) for a in second["attempts"]] == [
        ("small", "local", "error"),
        ("big", "frontier", "ok"),
    ]
    assert second["cost_usd"] > 0
    assert recs[2]["error"] == "ProviderUnavailable" and recs[2]["target"] is None
    assert recs[3]["stream"] is True
    assert recs[4]["error"] == "NoEligibleTarget" and recs[4]["attempts"] == []
    text = log.read_text()
    for secret in (*KEYS, MARKER, "Hello there", "down"):
        assert secret not in text
    report = verify_log(log, r.config)
    assert report.ok, report.findings
    assert report.records == 5 and report.head == recs[-1]["hash"]


@pytest.fixture
def clean_log(tmp_path: Path, mock: respx.MockRouter) -> Path:
    log = tmp_path / "audit.jsonl"
    _run_mixed(log, mock)
    return log


def _chain_lines(path: Path) -> set[int]:
    return {f.line for f in verify_log(path).findings if f.kind == "chain"}


def test_altered_field_is_detected(clean_log: Path) -> None:
    lines = clean_log.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"zone":"frontier"', '"zone":"local"')
    clean_log.write_text("".join(lines))
    assert 2 in _chain_lines(clean_log)


def test_altered_field_with_recomputed_hash_breaks_the_next_link(clean_log: Path) -> None:
    from router.telemetry.audit import _sha256, canonical

    recs = _lines(clean_log)
    recs[1]["cost_usd"] = 0.0
    body = {k: v for k, v in recs[1].items() if k != "hash"}
    recs[1]["hash"] = _sha256(canonical(body))
    clean_log.write_text("".join(canonical(x).decode() + "\n" for x in recs))
    assert _chain_lines(clean_log) == {3}


def test_deleted_line_is_detected(clean_log: Path) -> None:
    lines = clean_log.read_text().splitlines(keepends=True)
    del lines[2]
    clean_log.write_text("".join(lines))
    assert 3 in _chain_lines(clean_log)


def test_reordered_lines_are_detected(clean_log: Path) -> None:
    lines = clean_log.read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    clean_log.write_text("".join(lines))
    assert {2, 3} <= _chain_lines(clean_log)


def test_truncated_last_line_is_detected(clean_log: Path) -> None:
    data = clean_log.read_bytes()
    clean_log.write_bytes(data[:-40])
    found = verify_log(clean_log).findings
    assert any(f.line == 5 and "truncated" in f.message for f in found)


def test_removed_tail_needs_the_noted_head(clean_log: Path) -> None:
    head = verify_log(clean_log).head
    lines = clean_log.read_text().splitlines(keepends=True)
    clean_log.write_text("".join(lines[:-1]))
    assert verify_log(clean_log).ok  # a shorter chain is still a chain…
    assert not verify_log(clean_log, expect_head=head).ok  # …unless the head was kept


def test_writer_chains_after_a_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    w = AuditLog(log)
    w.append({"x": 1})
    with open(log, "ab") as f:
        f.write(b'{"broken')
    w2 = AuditLog(log)
    w2.append({"x": 2})
    report = verify_log(log)
    assert not report.ok
    assert {f.line for f in report.findings} == {2}  # the torn line only
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + lines[2])
    assert verify_log(log).ok  # the writer chained past it


def _loose_config(path: Path) -> dict[str, Any]:
    """No rules at all: the router may send anything anywhere."""
    cfg = make_config(enabled=False, audit_log=str(path))
    cfg["rules"] = []
    return cfg


def _strict_config() -> dict[str, Any]:
    cfg = make_config(enabled=False)
    cfg["rules"].append(
        {"name": "vip-users-local", "when": {"user": "ceo"}, "allow": {"zone": ["local"]}}
    )
    cfg["rules"].append(
        {
            "name": "no-frontier-for-audit",
            "when": {"tags": {"any": ["audit"]}},
            "deny": {"zone": ["frontier"]},
        }
    )
    return cfg


def test_policy_violation_is_reported_with_its_line(tmp_path: Path, mock: respx.MockRouter) -> None:
    """A log written under a loose policy, checked against the strict one."""
    log = tmp_path / "audit.jsonl"
    r = Router(_loose_config(log))
    mock.post(LOCAL_URL).mock(return_value=error_body(503, "down"))
    mock.post(CLOUD_URL).mock(return_value=httpx.Response(200, json=completion("gpt-x")))
    r.chat(MSG)  # internal → frontier: fine
    r.chat(MSG, context={"sensitivity": "confidential"})  # leaves the infrastructure
    r.chat(MSG, context={"tags": ["audit"]})  # denied zone
    r.close()
    report = verify_log(log, load_dict(_strict_config()))
    assert not report.ok
    by_line = {(f.line, f.kind) for f in report.findings if f.kind != "warning"}
    assert by_line == {(2, "violation"), (3, "violation")}
    warned = {f.line for f in report.findings if f.kind == "warning"}
    assert warned == {1, 2, 3}  # written under another policy hash
    msgs = " ".join(f.message for f in report.findings)
    assert "confidential-stays-home" in msgs and "no-frontier-for-audit" in msgs
    assert "vip-users-local" in report.unchecked_rules


def test_attempt_outside_the_plan_is_a_violation(tmp_path: Path) -> None:
    from router.telemetry.audit import _sha256, canonical

    log = tmp_path / "a.jsonl"
    rec = {
        "v": 1,
        "seq": 1,
        "sensitivity": "public",
        "plan": [{"target": "small"}],
        "attempts": [{"target": "big", "zone": "frontier"}],
        "prev": GENESIS,
    }
    rec["hash"] = _sha256(canonical(rec))
    log.write_text(canonical(rec).decode() + "\n")
    report = verify_log(log, load_dict(make_config()))
    assert [f.kind for f in report.findings if f.kind != "warning"] == ["violation"]
    assert "not in the admitted plan" in report.findings[-1].message


def test_policy_hash_ignores_secrets_and_tracks_rules() -> None:
    a = make_config()
    b = make_config()
    b["providers"]["cloud"]["api_key"] = "sk-another-key-000000000000"
    b["providers"]["cloud"]["headers"] = {"x-api-key": "sk-hidden-000000000000"}
    assert policy_hash(load_dict(a)) == policy_hash(load_dict(b))
    c = make_config()
    c["rules"][0]["allow"]["zone"] = ["local", "private"]
    assert policy_hash(load_dict(a)) != policy_hash(load_dict(c))
    d = make_config()
    d["providers"]["gpu"]["base_url"] = "http://user:pw@127.0.0.1:9301/v1"
    assert policy_hash(load_dict(d)) == policy_hash(load_dict(a))


def test_threads_share_one_chain(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    w = AuditLog(log)

    def write(n: int) -> None:
        for i in range(50):
            w.append({"writer": n, "i": i})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify_log(log)
    assert report.ok and report.records == 200


def _proc_write(path: str, n: int) -> None:
    w = AuditLog(path)
    for i in range(40):
        w.append({"proc": n, "i": i})


def test_processes_share_one_chain(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_proc_write, args=(str(log), n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    report = verify_log(log)
    assert report.ok, report.findings[:3]
    assert report.records == 120


def test_cli_verify(
    tmp_path: Path, mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    cfg_path = tmp_path / "router.yaml"
    cfg_path.write_text(yaml.safe_dump(_strict_config()))
    with Router(_loose_config(log)) as r:
        mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
        r.chat(MSG, context={"sensitivity": "confidential"})
    assert main(["audit", "verify", str(log), "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("OK: 1 record(s)")
    assert "vip-users-local" in out  # the rule it could not re-check is named
    mock.post(LOCAL_URL).mock(return_value=error_body(503, "down"))
    mock.post(CLOUD_URL).mock(return_value=httpx.Response(200, json=completion("gpt-x")))
    with Router(_loose_config(log)) as r:  # a later router chains on to the same log
        r.chat(MSG, context={"sensitivity": "restricted"})
    assert main(["audit", "verify", str(log), "--config", str(cfg_path)]) == 1
    out = capsys.readouterr().out
    assert "line 2: violation:" in out and "confidential-stays-home" in out
    assert main(["audit", "verify", str(log), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 2
    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2


@pytest.mark.parametrize(
    ("expr", "level", "want"),
    [
        (">= confidential", "restricted", True),
        (">= confidential", "internal", False),
        ("> internal", "confidential", True),
        ("< internal", "public", True),
        ("<= internal", "confidential", False),
        ("confidential", "confidential", True),
        ("== public", "internal", False),
        ("!= public", "internal", True),
        (">= confidential", "unknown-level", False),
    ],
)
def test_sensitivity_matcher(expr: str, level: str, want: bool) -> None:
    # The verifier re-reads a record's facts with the policy engine's own matcher.
    from router.config.schema import Matcher
    from router.telemetry.audit import _compile_when

    levels = ("public", "internal", "confidential", "restricted")
    test, why = _compile_when("r", Matcher(sensitivity=expr), levels)
    assert why is None and test is not None
    assert test({"sensitivity": level}) is want


@pytest.mark.parametrize(
    ("tags", "record_tags", "want"),
    [
        ({"any": ["a"], "all": ["b"]}, ["a", "b"], True),
        ({"any": ["a"], "all": ["b"]}, ["a"], False),
        ({"all": ["a", "b"]}, ["a", "b", "c"], True),
        ({"none": ["a"]}, ["b"], True),
        ({"none": ["a"]}, ["a"], False),
    ],
)
def test_tag_matcher(tags: Any, record_tags: list[str], want: bool) -> None:
    from router.config.schema import Matcher
    from router.telemetry.audit import _compile_when

    test, why = _compile_when("r", Matcher(tags=tags), ("public", "internal"))
    assert why is None and test is not None
    assert test({"tags": record_tags}) is want


def test_unknown_matcher_forms_are_reported_not_guessed() -> None:
    from router.config.schema import Matcher
    from router.telemetry.audit import _compile_when

    for when in (Matcher(sensitivity=">= secret"), Matcher(tags={"some": ["a"]})):
        test, why = _compile_when("r", when, ("public",))
        assert test is None and why
    cfg = make_config()
    cfg["rules"].append(
        {"name": "odd", "when": {"tenant": {"glob": "x*"}}, "deny": {"zone": ["hosted"]}}
    )
    cfg["rules"].append({"name": "limits-only", "limit": {"max_cost_usd": 1}})
    report = verify_log_of_nothing(load_dict(cfg))
    assert set(report.unchecked_rules) == {"odd"}


def verify_log_of_nothing(config: Any) -> Any:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        return verify_log(f.name, config)


def _signed(records: list[dict[str, Any]]) -> str:
    from router.telemetry.audit import _sha256, canonical

    prev, out = GENESIS, []
    for i, rec in enumerate(records, 1):
        rec = {"v": 1, "seq": i, **rec, "prev": prev}
        rec["hash"] = prev = _sha256(canonical(rec))
        out.append(canonical(rec).decode() + "\n")
    return "".join(out)


def test_allow_needs_every_listed_field_deny_any(tmp_path: Path) -> None:
    cfg = make_config()
    cfg["rules"] = [
        {
            "name": "eu-local",
            "when": {"tenant": {"in": ["acme"]}},
            "allow": {"zone": ["local"], "region": ["EU"]},
        },
        {"name": "no-vllm", "when": {"route": "solo"}, "deny": {"provider": ["VLLM"]}},
    ]
    local_eu = {
        "target": "small",
        "zone": "local",
        "region": "eu",
        "provider": "gpu",
        "kind": "vllm",
    }
    local_us = {**local_eu, "region": "us"}
    recs = [
        {"tenant": "acme", "route": "default", "plan": [local_eu], "attempts": [local_eu]},
        {"tenant": "acme", "route": "default", "plan": [local_us], "attempts": [local_us]},
        {"tenant": "other", "route": "default", "plan": [local_us], "attempts": [local_us]},
        {"tenant": "other", "route": "solo", "plan": [local_eu], "attempts": [local_eu]},
    ]
    log = tmp_path / "a.jsonl"
    log.write_text(_signed(recs))
    report = verify_log(log, load_dict(cfg))
    found = {
        (f.line, f.message.split("breaks rule ")[-1].split(":")[0])
        for f in report.findings
        if f.kind == "violation"
    }
    assert found == {(2, "'eu-local'"), (4, "'no-vllm'")}
