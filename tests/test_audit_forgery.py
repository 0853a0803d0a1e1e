"""Audit log forgery: re-chained rewrites, duplicate keys, re-serialised lines, cut tails.

A writer who can edit the file can recompute every ``prev``/``hash``/``seq``;
only the ``mac`` (HMAC under ``telemetry.audit_key``) stops that. Each line is
checked byte for byte, so one line cannot mean two things to two readers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

from router import Router
from router.cli import main
from router.config import load_dict
from router.errors import ConfigError
from router.telemetry.audit import (
    GENESIS,
    AuditLog,
    Refused,
    canonical,
    parse_line,
    record_mac,
    verify_log,
)
from tests.telemetry_support import LOCAL_URL, completion, make_config

pytest_plugins = ["tests.telemetry_fixtures"]

KEY = "k3y-6d1f0c9a7b2e4f58a3c1d0e9f8a7b6c5"
OTHER_KEY = "attacker-key-0000000000000000"
MSG = [{"role": "user", "content": "hello"}]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _recs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_bytes().splitlines()]


def _rechain(recs: list[dict[str, Any]], key: str | None = None) -> bytes:
    """What a forger with write access does: renumber, relink and rehash every line."""
    out, prev = [], GENESIS
    for i, rec in enumerate(recs, 1):
        rec = {k: v for k, v in rec.items() if k not in ("hash", "mac")}
        rec["seq"], rec["prev"] = i, prev
        if key is not None:
            rec["mac"] = record_mac(key.encode(), rec)
        rec["hash"] = prev = _sha(canonical(rec))
        out.append(canonical(rec) + b"\n")
    return b"".join(out)


def _chain_lines(path: Path, **kw: Any) -> set[int]:
    return {f.line for f in verify_log(path, **kw).findings if f.kind == "chain"}


@pytest.fixture
def keyed_log(tmp_path: Path, mock: respx.MockRouter) -> Path:
    """Five records written by the router with ``telemetry.audit_key``."""
    log = tmp_path / "audit.jsonl"
    r = Router(make_config(enabled=False, audit_log=str(log), audit_key=KEY))
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    for tenant in ("acme", "globex", "initech", "umbrella", "hooli"):
        r.chat(MSG, context={"tenant": tenant})
    r.close()  # a background thread writes the log: closing flushes it
    report = verify_log(log, r.config)  # the config's key is used
    assert report.ok and report.authenticated, report.findings
    assert report.records == report.macs == report.seq == 5
    return log


@pytest.fixture
def plain_log(tmp_path: Path) -> Path:
    """Three records written without a key (the pre-MAC format)."""
    log = tmp_path / "plain.jsonl"
    w = AuditLog(log)
    for i in range(3):
        w.append({"tenant": f"t{i}", "cost_usd": 0.5 * i, "zone": "frontier"})
    return log


# -- re-chained rewrites: only the key stops them ------------------------------


def test_rewritten_and_rechained_line_is_caught_by_the_mac(keyed_log: Path) -> None:
    recs = _recs(keyed_log)
    recs[1]["tenant"] = "someone-else"
    keyed_log.write_bytes(_rechain(recs, OTHER_KEY))  # every link and hash consistent
    assert verify_log(keyed_log).ok  # structure and chain alone cannot tell…
    assert not verify_log(keyed_log).authenticated
    report = verify_log(keyed_log, key=KEY)  # …the key can
    assert not report.ok
    assert {f.line for f in report.findings if "MAC does not match" in f.message} == {1, 2, 3, 4, 5}


def test_rewrite_keeping_the_other_macs_fails_from_the_edited_line_on(keyed_log: Path) -> None:
    recs = _recs(keyed_log)
    recs[2]["tenant"] = "someone-else"
    keyed_log.write_bytes(_rechain_keep(recs))  # every other line keeps its MAC
    report = verify_log(keyed_log, key=KEY)
    # Line 3's content changed; 4 and 5 now link to another hash, which their MACs cover.
    assert {f.line for f in report.findings if "MAC does not match" in f.message} == {3, 4, 5}
    assert not any("link broken" in f.message for f in report.findings)


def _rechain_keep(recs: list[dict[str, Any]]) -> bytes:
    """Re-link and rehash, keeping each line's ``mac`` as it is."""
    out, prev = [], GENESIS
    for rec in recs:
        rec = {k: v for k, v in rec.items() if k != "hash"}
        rec["prev"] = prev
        rec["hash"] = prev = _sha(canonical(rec))
        out.append(canonical(rec) + b"\n")
    return b"".join(out)


def test_whole_chain_rewritten_without_macs_is_refused_with_the_key(keyed_log: Path) -> None:
    recs = _recs(keyed_log)
    keyed_log.write_bytes(_rechain(recs))  # a downgrade to the un-MAC'd format
    assert verify_log(keyed_log).ok
    report = verify_log(keyed_log, key=KEY)
    assert {f.line for f in report.findings if "no MAC" in f.message} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("edit", ["delete", "reorder", "drop-first"])
def test_deleted_or_reordered_lines_cannot_be_rechained(keyed_log: Path, edit: str) -> None:
    lines = keyed_log.read_bytes().splitlines(keepends=True)
    if edit == "delete":
        del lines[2]
    elif edit == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        del lines[0]
    keyed_log.write_bytes(b"".join(lines))
    assert _chain_lines(keyed_log, key=KEY)  # without re-chaining: the links break
    recs = [json.loads(x) for x in lines]
    for r in recs:
        r.pop("mac")
    keyed_log.write_bytes(_rechain(recs, OTHER_KEY))  # re-chained with a guessed key
    assert verify_log(keyed_log).ok
    assert not verify_log(keyed_log, key=KEY).ok


def test_a_log_without_macs_verifies_as_before_with_a_warning(plain_log: Path) -> None:
    report = verify_log(plain_log)
    assert report.ok and not report.authenticated
    assert any("carry no MAC" in n for n in report.notes)
    recs = _recs(plain_log)
    recs[1]["zone"] = "local"
    plain_log.write_bytes(_rechain(recs))
    assert verify_log(plain_log).ok  # what a hash chain cannot detect, and why the key exists


def test_wrong_key_says_so(keyed_log: Path) -> None:
    report = verify_log(keyed_log, key=OTHER_KEY)
    assert not report.ok
    assert any("wrong key" in n or "the key the log was written with" in n for n in report.notes)


# -- one line, one meaning -----------------------------------------------------


def _plain_first_line(plain_log: Path) -> bytes:
    return plain_log.read_bytes().splitlines()[0]


def _replace_first(plain_log: Path, line: bytes) -> None:
    rest = plain_log.read_bytes().splitlines(keepends=True)[1:]
    plain_log.write_bytes(line + b"\n" + b"".join(rest))


def test_duplicate_keys_are_refused(plain_log: Path) -> None:
    line = _plain_first_line(plain_log)
    assert b'"zone":"frontier"' in line
    # First-wins readers see "local"; Python (last wins) sees the hashed "frontier".
    forged = b'{"zone":"local",' + line[1:]
    _replace_first(plain_log, forged)
    report = verify_log(plain_log)
    assert not report.ok
    assert any(f.line == 1 and "duplicate key 'zone'" in f.message for f in report.findings)
    with pytest.raises(Refused, match="duplicate key"):
        parse_line(b'{"a":1,"a":1}')
    with pytest.raises(Refused, match="duplicate key"):
        parse_line(b'{"a":{"b":1,"b":1}}')  # nested objects too


def _reserialisations(rec: dict[str, Any]) -> list[bytes]:
    return [
        json.dumps(rec, sort_keys=True).encode(),  # default spacing
        json.dumps(dict(reversed(rec.items())), separators=(",", ":")).encode(),  # key order
        json.dumps(rec, sort_keys=True, separators=(",", ":"), indent=None).encode() + b" ",
        b" " + canonical(rec),
        canonical(rec) + b"\r",  # CRLF line ends
        canonical(rec).replace(b'"cost_usd":0.0', b'"cost_usd":0.00'),
        canonical(rec).replace(b'"cost_usd":0.0', b'"cost_usd":0e0'),
    ]


@pytest.mark.parametrize("variant", range(7))
def test_reserialised_line_is_refused(plain_log: Path, variant: int) -> None:
    rec = json.loads(_plain_first_line(plain_log))
    assert rec["cost_usd"] == 0.0
    line = _reserialisations(rec)[variant]
    assert line != canonical(rec) and json.loads(line) == rec  # same data, other bytes
    _replace_first(plain_log, line)
    report = verify_log(plain_log)
    assert not report.ok
    assert next(f.line for f in report.findings if f.kind == "chain") == 1


def test_escaped_non_ascii_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    AuditLog(log).append({"tenant": "Zürich-Ω"})
    assert "Zürich-Ω" in log.read_text(encoding="utf-8")  # written as UTF-8
    rec = _recs(log)[0]
    log.write_bytes(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    assert "canonical" in verify_log(log).findings[0].message


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda b: b"\xef\xbb\xbf" + b, "byte-order mark"),
        (lambda b: b.decode().encode("utf-16"), "not valid UTF-8"),
        (lambda b: b.replace(b'"t0"', b'"t\xe90"'), "not valid UTF-8"),
        (lambda b: b + b'{"x":1}', "trailing data"),
        (lambda b: b.replace(b'"cost_usd":0.0', b'"cost_usd":NaN'), "NaN"),
        (lambda b: b"[" + b + b"]", "not a JSON object"),
    ],
)
def test_raw_bytes_are_checked(plain_log: Path, mangle: Any, why: str) -> None:
    _replace_first(plain_log, mangle(_plain_first_line(plain_log)))
    report = verify_log(plain_log)
    assert not report.ok
    assert why in report.findings[0].message and report.findings[0].line == 1


def test_chain_fields_must_have_their_types(plain_log: Path) -> None:
    recs = _recs(plain_log)
    data = _rechain(recs)
    first = json.loads(data.splitlines()[0])
    first.pop("hash")
    first["seq"] = True  # equal to 1 in Python, not in other readers
    first["hash"] = _sha(canonical(first))
    rest = data.splitlines(keepends=True)[1:]
    plain_log.write_bytes(canonical(first) + b"\n" + b"".join(rest))
    msgs = [f.message for f in verify_log(plain_log).findings if f.line == 1]
    assert "seq is not an integer" in msgs


# -- the tail ------------------------------------------------------------------


def test_cut_tail_is_caught_only_with_an_expected_seq_or_head(keyed_log: Path) -> None:
    head = verify_log(keyed_log, key=KEY).head
    lines = keyed_log.read_bytes().splitlines(keepends=True)
    keyed_log.write_bytes(b"".join(lines[:-2]))
    report = verify_log(keyed_log, key=KEY)
    assert report.ok and report.seq == 3  # a shorter chain is still a valid chain…
    assert any("removed from the end" in n for n in report.notes)
    cut = verify_log(keyed_log, key=KEY, expect_seq=5)  # …unless its length was noted
    assert not cut.ok
    assert any("ends at seq 3, expected at least 5" in f.message for f in cut.findings)
    assert not verify_log(keyed_log, key=KEY, expect_head=head).ok


def test_a_noted_head_or_seq_still_holds_after_the_log_grew(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    w = AuditLog(log, key=KEY)
    for i in range(3):
        w.append({"i": i})
    noted = verify_log(log, key=KEY)
    for i in range(3):
        w.append({"i": i})
    report = verify_log(log, key=KEY, expect_head=noted.head, expect_seq=noted.seq)
    assert report.ok and report.authenticated and report.seq == 6
    assert not any("removed from the end" in n for n in report.notes)


# -- the writer ----------------------------------------------------------------


def test_writer_output_is_canonical_and_maced(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    w = AuditLog(log, key=KEY)
    rec = w.append({"b": 1, "a": [1.5, None, "é"]})
    raw = log.read_bytes()
    assert raw == canonical(rec) + b"\n"
    body = {k: v for k, v in rec.items() if k not in ("mac", "hash")}
    assert body["prev"] == GENESIS and body["seq"] == 1
    assert rec["mac"] == record_mac(KEY.encode(), body)
    assert rec["hash"] == _sha(canonical({**body, "mac": rec["mac"]}))
    assert parse_line(raw.rstrip(b"\n")) == rec


def test_writer_never_loses_a_record_to_an_unserialisable_value(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    w = AuditLog(log, key=KEY)
    rec = w.append({"cost_usd": float("inf"), "tenant": "a\ud800b", "n": float("nan")})
    assert rec["cost_usd"] is None and rec["n"] is None and rec["tenant"] == "a\ufffdb"
    w.append({"i": 2})
    report = verify_log(log, key=KEY)
    assert report.ok and report.authenticated and report.records == 2


def test_writer_refuses_records_that_set_chain_fields(tmp_path: Path) -> None:
    w = AuditLog(tmp_path / "a.jsonl", key=KEY)
    for k in ("v", "seq", "prev", "mac", "hash"):
        with pytest.raises(ValueError, match="keys the log sets itself"):
            w.append({k: 1})


# -- the key stays secret --------------------------------------------------------


def test_key_is_masked_in_config_reprs_and_dumps() -> None:
    cfg = load_dict(make_config(audit_key=KEY))
    assert cfg.telemetry.audit_key is not None
    assert cfg.telemetry.audit_key.get_secret_value() == KEY
    for text in (
        repr(cfg),
        str(cfg),
        repr(cfg.telemetry),
        cfg.model_dump_json(),
        json.dumps(cfg.model_dump(mode="json")),
        repr(AuditLog("x.jsonl", key=KEY)),
    ):
        assert KEY not in text


def test_short_key_is_refused_without_echoing_it() -> None:
    short = "tiny-secret-7"
    with pytest.raises(ConfigError) as e:
        load_dict(make_config(audit_key=short))
    text = str(e.value) + repr(e.value)
    assert "at least 16 characters" in text and short not in text


def test_failed_write_logs_no_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from router.telemetry.auditing import AuditObserver

    cfg = load_dict(make_config(audit_key=KEY))
    obs = AuditObserver(cfg, tmp_path)  # a directory: the write fails
    with caplog.at_level(logging.DEBUG, logger="router"):
        obs.request_denied("default", _Ctx(), _Denied())  # type: ignore[arg-type]
        obs.close()  # the background writer fails, logs and stops
    assert "audit record not written" in caplog.text
    assert KEY not in caplog.text and KEY not in repr(obs.log)


class _Ctx:
    tenant = "acme"
    tags: tuple[str, ...] = ()


class _Denied(Exception):
    decision = None


def test_cli_with_and_without_the_key(
    keyed_log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AUDIT_KEY", KEY)
    cfg = make_config(enabled=False, audit_key="${AUDIT_KEY}")
    cfg_path = tmp_path / "router.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert main(["audit", "verify", str(keyed_log), "--key-env", "AUDIT_KEY"]) == 0
    out = capsys.readouterr().out
    assert "MACs verified" in out.splitlines()[-1] and "at seq 5" in out
    assert main(["audit", "verify", str(keyed_log), "--config", str(cfg_path)]) == 0
    assert "MACs verified" in capsys.readouterr().out
    assert main(["audit", "verify", str(keyed_log)]) == 0  # structure only, and says so
    out = capsys.readouterr().out
    assert "no key was given" in out and "hash chain only (no key)" in out
    assert main(["audit", "verify", str(keyed_log), "--key-env", "NO_SUCH_VAR_X"]) == 2
    assert "NO_SUCH_VAR_X is not set" in capsys.readouterr().out
    outputs = []
    monkeypatch.setenv("AUDIT_KEY", OTHER_KEY)
    assert main(["audit", "verify", str(keyed_log), "--key-env", "AUDIT_KEY", "--json"]) == 1
    outputs.append(capsys.readouterr().out)
    report = json.loads(outputs[-1])
    assert report["authenticated"] is False and report["keyed"] is True
    monkeypatch.setenv("AUDIT_KEY", KEY)
    lines = keyed_log.read_bytes().splitlines(keepends=True)
    keyed_log.write_bytes(b"".join(lines[:-1]))
    argv = ["audit", "verify", str(keyed_log), "--key-env", "AUDIT_KEY", "--expect-seq", "5"]
    assert main(argv) == 1
    outputs.append(capsys.readouterr().out)
    assert "expected at least 5" in outputs[-1]
    for text in (*outputs, keyed_log.read_text()):
        assert KEY not in text and OTHER_KEY not in text
