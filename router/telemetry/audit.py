"""The audit log: one hash-chained JSON line per request, and its verifier.

Each record says who asked (tenant, tags), what the policy concluded
(sensitivity level, matched rules, admitted plan) and where the request
actually went (every contacted target with its trust attributes: zone,
region, provider, …), with the cost and the hash of the policy in force. It
never holds message content, API keys or provider error text.

Every line is the record's *canonical* JSON (:func:`canonical`: keys sorted,
no spaces, UTF-8 without escapes for non-ASCII, no NaN or Infinity); the
verifier parses each line's raw bytes, refuses duplicate keys, a byte-order
mark, invalid UTF-8 and trailing data, and requires the line to equal the
canonical re-serialisation of what it parsed, byte for byte. So a line has one
meaning whatever JSON reader looks at it.

Records are chained: each carries the hash of the previous record (``prev``),
a sequence number (``seq``) and its own SHA-256 over its canonical JSON
(``hash``). That detects damage, but anyone who can write the file can rewrite
a line and recompute every later link. With ``telemetry.audit_key`` set, each
record also carries ``mac``: HMAC-SHA256 under that key of the canonical JSON
of the record without ``mac`` and ``hash`` (so it covers ``prev`` and ``seq``);
``hash`` then covers ``mac`` too. Without the key nobody can re-chain an
edited, deleted or reordered line. Lines removed *at the end* still leave a
valid shorter chain: note the head hash or sequence number printed by
``llm-router audit verify`` elsewhere and pass it back to detect that.

Writes are safe across threads (a lock) and processes (``O_APPEND`` plus an
exclusive ``flock`` while the previous hash is read and the line written). The
router does not call :meth:`AuditLog.append` on the request path: it hands
records to :class:`~router.telemetry.audit_writer.AuditWriter`, one background
thread per file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..policy import trust

if TYPE_CHECKING:
    from ..config.schema import Config, Matcher, RuleConfig, TrustFilter
    from ..embeddings.types import EmbeddingResponse
    from ..errors import NoEligibleTarget
    from ..execution.call import Call
    from ..types import ChatResponse

try:  # POSIX; elsewhere only the in-process lock protects the chain.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "GENESIS",
    "AuditLog",
    "Finding",
    "Refused",
    "VerifyReport",
    "canonical",
    "check_record",
    "denied_record",
    "parse_line",
    "policy_hash",
    "record_mac",
    "request_record",
    "verify_log",
]

FORMAT_VERSION = 1
GENESIS = "0" * 64
"""The ``prev`` of the first record of a log."""

_RESERVED = frozenset({"v", "seq", "prev", "mac", "hash"})
"""Keys the log sets itself; a record handed to :meth:`AuditLog.append` may not hold them."""

_BOM = b"\xef\xbb\xbf"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical(obj: Any) -> bytes:
    """The canonical JSON bytes of ``obj``: the one serialisation the log accepts.

    Keys sorted, separators ``,`` and ``:`` without spaces, non-ASCII written
    as UTF-8 (not ``\\u`` escapes), Python's shortest float repr, and no NaN or
    Infinity (``ValueError``; so is a string with an unpaired surrogate).
    """
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_mac(key: bytes, record: Mapping[str, Any]) -> str:
    """HMAC-SHA256 under ``key`` of ``record``'s canonical JSON without ``mac`` and ``hash``."""
    body = {k: v for k, v in record.items() if k not in ("mac", "hash")}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None:
        return None
    out = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not out:
        raise ValueError("the audit key is empty")
    return out


def _scrub(obj: Any) -> Any:
    """``obj`` with what JSON cannot carry replaced: non-finite numbers by None,
    unpaired surrogates by U+FFFD (so such a record is still written)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str):
        return _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, Mapping):
        return {_scrub(k): _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_scrub(v) for v in obj]
    return obj


def _strip_userinfo(url: Any) -> Any:
    if not isinstance(url, str) or "@" not in url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=host))


def policy_hash(config: Config) -> str:
    """SHA-256 of the validated config's canonical JSON, secrets and telemetry excluded.

    API keys and headers (which may carry keys) are dropped, and credentials
    in a ``base_url`` are stripped, so the hash can be published; the
    ``telemetry`` section is dropped because it does not change routing.
    """
    data = config.model_dump(mode="json", exclude={"telemetry"})
    for p in data.get("providers", {}).values():
        p.pop("api_key", None)
        p.pop("headers", None)
        p["base_url"] = _strip_userinfo(p.get("base_url"))
    return _sha256(canonical(data))


# -- building records --------------------------------------------------------


def _now_iso(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def request_record(
    call: Call,
    *,
    policy: str,
    response: ChatResponse | EmbeddingResponse | None = None,
    error: BaseException | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The audit record of a call that was executed (successfully or not).

    An embedding call's record also says ``"operation": "embeddings"`` (a chat
    record carries no such key, as before embeddings existed)."""
    d = call.decision
    by_name = {t.name: t for t in d.plan}
    attempts = []
    for a in call.walker.attempts:
        t = by_name.get(a.target)
        entry: dict[str, Any] = (
            trust.attributes(t) if t is not None else {"target": a.target, "zone": a.zone}
        )
        entry.update(outcome=a.outcome, status=a.status, error=a.error)
        attempts.append(entry)
    route = response.route if response is not None else None
    usage = response.usage if response is not None else None
    answered = by_name.get(route.target) if route is not None else None
    shadow_of = call.extra.get("shadow_of")
    rec: dict[str, Any] = {
        "time": _now_iso(time.time() if now is None else now),
        "decision_id": d.id,
        "tenant": call.context.tenant,
        "tags": sorted(call.context.tags),
        "route": d.route,
        "sensitivity": d.sensitivity.level,
        "declared": d.sensitivity.declared,
        "detectors": sorted(d.sensitivity.detectors),
        "matched_rules": list(d.matched_rules),
        "estimated_input_tokens": getattr(d, "input_tokens", None),
        "has_tools": call.request.has_tools,
        "has_images": call.request.has_images,
        "stream": call.stream,
        "plan": [trust.attributes(t) for t in d.plan],
        "excluded": len(d.excluded),
        "outcome": "ok" if response is not None else "error",
        "error": None if error is None else type(error).__name__,
        "target": route.target if route is not None else None,
        "zone": route.zone if route is not None else None,
        "provider": route.provider if route is not None else None,
        "model": answered.model_id if answered is not None else None,
        "attempts": attempts,
        "input_tokens": usage.prompt_tokens if usage is not None else None,
        "output_tokens": usage.completion_tokens if usage is not None else None,
        "cached_tokens": usage.cached_tokens if usage is not None else None,
        "cost_usd": route.cost_usd if route is not None else None,
        "amortised_cost_usd": route.amortised_cost_usd if route is not None else None,
        "cost_estimated": route.cost_estimated if route is not None else None,
        "shadow_of": shadow_of if isinstance(shadow_of, str) else None,
        "policy_hash": policy,
    }
    if d.operation != "chat":
        rec["operation"] = d.operation
    if route is not None and route.cache is not None:
        rec["cache"] = route.cache  # only when the cache applied: older records stay as they were
        if route.cache == "hit":  # nothing was sent: nothing consumed
            rec["input_tokens"] = rec["output_tokens"] = rec["cached_tokens"] = 0
    red = getattr(d, "redaction", None)
    if red is not None:
        # Detector names and counts, the zones and the level decided there: never a value.
        rec["redaction"] = red.to_dict()
    return rec


def denied_record(
    route: str,
    tenant: str | None,
    tags: Sequence[str],
    error: NoEligibleTarget,
    *,
    policy: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The audit record of a request the policy refused (nothing was sent)."""
    d = getattr(error, "decision", None)
    sens = getattr(d, "sensitivity", None)
    return {
        "time": _now_iso(time.time() if now is None else now),
        "decision_id": getattr(d, "id", None),
        "tenant": tenant,
        "tags": sorted(tags),
        "route": getattr(d, "route", route),
        "sensitivity": getattr(sens, "level", None),
        "declared": getattr(sens, "declared", None),
        "detectors": sorted(getattr(sens, "detectors", None) or ()),
        "matched_rules": list(getattr(d, "matched_rules", ())),
        "plan": [],
        "excluded": len(getattr(d, "excluded", None) or ()),
        "outcome": "denied",
        "error": type(error).__name__,
        "target": None,
        "zone": None,
        "provider": None,
        "model": None,
        "attempts": [],
        "input_tokens": None,
        "output_tokens": None,
        "cached_tokens": None,
        "cost_usd": None,
        "amortised_cost_usd": None,
        "cost_estimated": None,
        "shadow_of": None,
        "policy_hash": policy,
    }


# -- writing -------------------------------------------------------------------


class AuditLog:
    """An append-only, hash-chained JSONL file; MAC'd when given a key.

    ``key`` (the ``telemetry.audit_key``) is kept private: it is not in the
    repr, and no error or log line of the writer shows it.
    """

    def __init__(self, path: str | os.PathLike[str], key: str | bytes | None = None) -> None:
        self.path = os.fspath(path)
        self.__key = _key_bytes(key)
        self._lock = threading.Lock()
        # What this process last wrote: (file size after it, seq, hash). When
        # the file still has that size no other process wrote since.
        self._tail: tuple[int, int, str] | None = None

    @property
    def keyed(self) -> bool:
        """Whether records get a ``mac``."""
        return self.__key is not None

    def __repr__(self) -> str:
        return f"AuditLog({self.path!r}, keyed={self.keyed})"

    def _seal(self, rec: dict[str, Any]) -> bytes:
        """Add ``mac`` (when keyed) and ``hash`` to ``rec``; its canonical line."""
        if self.__key is not None:
            rec["mac"] = record_mac(self.__key, rec)
        rec["hash"] = _sha256(canonical(rec))
        return canonical(rec)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``record`` to the log's last line, write it, and return it as written.

        A value JSON cannot carry (NaN, an infinity, an unpaired surrogate) is
        written as null or U+FFFD rather than losing the record.
        """
        return self.append_many((record,))[0]

    def append_many(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Chain and write ``records`` in order, under one lock and one ``write``.

        Nothing is written when any record cannot be serialised.
        """
        for record in records:
            check_record(record)
        if not records:
            return []
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                torn = False
                if self._tail is not None and self._tail[0] == size:
                    seq, prev = self._tail[1], self._tail[2]
                else:
                    seq, prev, torn = _last_link(self.path, size)
                out: list[dict[str, Any]] = []
                lines = [b"\n"] if torn else []
                for record in records:
                    seq += 1
                    rec = {"v": FORMAT_VERSION, "seq": seq, **record, "prev": prev}
                    try:
                        line = self._seal(rec)
                    except ValueError:
                        rec = _scrub({k: v for k, v in rec.items() if k not in ("mac", "hash")})
                        line = self._seal(rec)
                    lines += (line, b"\n")
                    out.append(rec)
                    prev = rec["hash"]
                data = b"".join(lines)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                self._tail = (size + len(data), seq, prev)
                return out
            finally:
                os.close(fd)  # closing releases the flock


def check_record(record: Mapping[str, Any]) -> None:
    """Refuse (``ValueError``) a record holding a key the log sets itself."""
    clash = _RESERVED.intersection(record)
    if clash:
        raise ValueError(f"record holds keys the log sets itself: {sorted(clash)}")


def _last_link(path: str, size: int) -> tuple[int, str, bool]:
    """(seq, hash) of the last valid record of ``path`` and whether the file ends torn.

    A torn last line (a crash mid-write) is left in place for ``verify`` to
    report; the next record is chained to the last valid one, on a new line.
    """
    if size == 0:
        return 0, GENESIS, False
    with open(path, "rb") as f:
        window = 65536
        while True:
            start = max(0, size - window)
            f.seek(start)
            data = f.read(size - start)
            torn = not data.endswith(b"\n")
            lines = data.split(b"\n")
            if start > 0:
                lines = lines[1:]  # the first one may be cut by the window
            for raw in reversed(lines):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                    return int(rec["seq"]), str(rec["hash"]), torn
                except (ValueError, KeyError, TypeError):
                    continue
            if start == 0:
                return 0, GENESIS, torn
            window *= 4


# -- verifying -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a log: where, which kind, what."""

    line: int
    kind: str
    """``chain`` (integrity) , ``violation`` (policy), or ``warning``."""
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_log`."""

    records: int = 0
    head: str = GENESIS
    seq: int = 0
    """The last record's sequence number (0 for an empty log)."""
    macs: int = 0
    """Records that carry a ``mac``."""
    keyed: bool = False
    """Whether a key was given, so every record's ``mac`` was checked."""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the verification could not establish (no key, no expected head, …)."""
    unchecked_rules: dict[str, str] = field(default_factory=dict)
    """Rules whose conditions or effects cannot be re-checked from the log, with why."""

    @property
    def ok(self) -> bool:
        """No integrity break and no policy violation (warnings allowed)."""
        return not any(f.kind in ("chain", "violation") for f in self.findings)

    @property
    def authenticated(self) -> bool:
        """Intact and every record's MAC checked with the key: not rewritten without it."""
        return self.keyed and self.records > 0 and self.ok and self.macs == self.records


Pred = Callable[[Mapping[str, Any]], bool]


_UNRECORDED = ("user", "metadata")


def _compile_when(
    rule: str, when: Matcher | None, levels: Sequence[str]
) -> tuple[Pred | None, str | None]:
    """A predicate over a record for ``when``, or (None, why it cannot be re-checked).

    The policy engine's own matcher compiles the condition, so the verifier
    reads a rule exactly as routing did; only fields the log records are fed.
    """
    if when is None:
        return (lambda rec: True), None
    for name in _UNRECORDED:
        if getattr(when, name) is not None:
            return None, f"its condition uses {name!r}, which the audit log does not record"
    from ..errors import ConfigError
    from ..policy.matchers import Facts, compile_matcher

    rank = {lvl: i for i, lvl in enumerate(levels)}
    try:
        preds, _notes = compile_matcher(rule, when, rank)
    except ConfigError as e:
        return None, f"its condition is not understood: {e}"

    def test(rec: Mapping[str, Any]) -> bool:
        facts = Facts(
            tenant=rec.get("tenant"),
            user=None,
            tags=frozenset(rec.get("tags") or ()),
            level=rank.get(rec.get("sensitivity") or "", -1),
            route=rec.get("route") or "",
            metadata={},
            input_tokens=rec.get("estimated_input_tokens") or 0,
            has_tools=bool(rec.get("has_tools")),
            has_images=bool(rec.get("has_images")),
        )
        return all(p(facts) for p in preds)

    return test, None


def _allow_failure(f: TrustFilter, attempt: Mapping[str, Any]) -> str | None:
    """Why ``allow`` does not admit the target (every listed field must), or None."""
    failed = trust.allow_failure(trust.filter_fields(f), attempt)
    if failed is None:
        return None
    name, allowed, have = failed
    shown = sorted(have) if have else "unset"
    return f"allows {name} in {sorted(allowed)}, target has {shown}"


def _deny_hit(f: TrustFilter, attempt: Mapping[str, Any]) -> str | None:
    """Which ``deny`` field the target hits (any one excludes it), or None."""
    hit = trust.deny_hit(trust.filter_fields(f), attempt)
    return None if hit is None else f"denies {hit[0]} {sorted(hit[1])}"


@dataclass(frozen=True, slots=True)
class _Check:
    rule: RuleConfig
    when: Pred


def _checks(config: Config, report: VerifyReport) -> list[_Check]:
    out = []
    for rule in config.rules:
        if rule.allow is None and rule.deny is None:
            continue  # limits and budgets are not re-checked (see docs/observability.md)
        test, why = _compile_when(rule.name, rule.when, config.sensitivity.levels)
        if test is None:
            report.unchecked_rules[rule.name] = why or "not understood"
            continue
        out.append(_Check(rule, test))
    return out


def _served(rec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """What reached (or answered for) a target: each attempt, and a cache hit's target.

    A hit has no attempt: the target whose cached answer was served is checked
    like one, with the trust attributes its plan entry records (none when it
    was not in the plan).
    """
    out = [
        (f"attempt to {a.get('target')!r} (zone {a.get('zone')!r})", a)
        for a in rec.get("attempts") or ()
    ]
    if rec.get("cache") == "hit":
        name = rec.get("target")
        entry = next((p for p in rec.get("plan") or () if p.get("target") == name), None)
        out.append(
            (
                f"cached answer from {name!r} (zone {rec.get('zone')!r})",
                entry or {"target": name, "zone": rec.get("zone")},
            )
        )
    return out


def _violations(rec: Mapping[str, Any], checks: Iterable[_Check]) -> Iterator[str]:
    plan = {p.get("target") for p in rec.get("plan") or ()}
    red = rec.get("redaction")
    # A zone sent redacted text was decided on the redacted text's sensitivity.
    red_zones: set[Any] = set()
    red_rec = rec
    if isinstance(red, Mapping):
        red_zones = set(red.get("zones") or ())
        red_rec = {**rec, "sensitivity": red.get("sensitivity")}
    for who, a in _served(rec):
        if a.get("target") not in plan:
            yield f"{who} was not in the admitted plan"
        seen = red_rec if a.get("zone") in red_zones else rec
        for c in checks:
            if not c.when(seen):
                continue
            why = (c.rule.allow and _allow_failure(c.rule.allow, a)) or (
                c.rule.deny and _deny_hit(c.rule.deny, a)
            )
            if why:
                yield f"{who} breaks rule {c.rule.name!r}: {why}"


class Refused(ValueError):
    """A line that is not one canonical JSON record (see :func:`parse_line`)."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise Refused(f"duplicate key {k[:40]!r} (readers disagree on which one counts)")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise Refused(f"non-standard JSON value {name}")


def parse_line(raw: bytes) -> dict[str, Any]:
    """The record on one line (without its newline), checked byte for byte.

    Raises :class:`Refused` for a byte-order mark, invalid UTF-8, anything but
    one JSON object, duplicate keys, NaN or Infinity, trailing data, and a line
    that is not exactly :func:`canonical` of what it parses to (other key
    order, spacing, escapes or number spelling).
    """
    if raw.startswith(_BOM):
        raise Refused("starts with a byte-order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not valid UTF-8") from None
    try:
        rec = json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            raise Refused("trailing data after the record") from None
        raise Refused("not a JSON record (truncated or altered)") from None
    except RecursionError:
        raise Refused("not a JSON record (nested too deeply)") from None
    except Refused:
        raise
    except ValueError:  # e.g. an integer beyond Python's digit limit
        raise Refused("not a JSON record (a value cannot be read)") from None
    if not isinstance(rec, dict):
        raise Refused("not a JSON object")
    try:
        same = canonical(rec) == raw
    except ValueError:
        same = False
    if not same:
        raise Refused(
            "not in canonical form (key order, spacing, escapes or number spelling "
            "differ from what the writer produces: re-serialised or altered)"
        )
    return rec


def _shape(rec: Mapping[str, Any]) -> str | None:
    """What is wrong with the chain fields of ``rec``, or None."""
    if rec.get("v") != FORMAT_VERSION or type(rec.get("v")) is not int:
        return f"unknown format version {rec.get('v')!r}"
    if type(rec.get("seq")) is not int:
        return "seq is not an integer"
    for name in ("prev", "hash"):
        if not isinstance(rec.get(name), str) or not _HEX64.fullmatch(rec[name]):
            return f"{name} is not a SHA-256 hex digest"
    if "mac" in rec and (not isinstance(rec["mac"], str) or not _HEX64.fullmatch(rec["mac"])):
        return "mac is not an HMAC-SHA256 hex digest"
    return None


def verify_log(
    path: str | os.PathLike[str],
    config: Config | None = None,
    *,
    expect_head: str | None = None,
    expect_seq: int | None = None,
    key: str | bytes | None = None,
) -> VerifyReport:
    """Check a log's lines, hash chain and MACs and, with ``config``, every record's policy.

    ``key`` defaults to ``config.telemetry.audit_key``; with a key every record
    must carry a matching ``mac``. ``expect_head`` (a record hash noted
    earlier) must be in the chain and ``expect_seq`` (a sequence number noted
    earlier) reached, which detects lines removed from the end.
    """
    if key is None and config is not None and config.telemetry.audit_key is not None:
        key = config.telemetry.audit_key.get_secret_value()
    secret = _key_bytes(key)
    report = VerifyReport(keyed=secret is not None)
    checks = _checks(config, report) if config is not None else []
    current = policy_hash(config) if config is not None else None
    prev, seq, lineno, matched, head_seen = GENESIS, 0, 0, 0, False
    add = report.findings.append
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        add(Finding(len(lines), "chain", "last line is truncated (no newline at its end)"))
    for lineno, raw in enumerate(lines, 1):
        try:
            rec = parse_line(raw)
        except Refused as e:
            add(Finding(lineno, "chain", str(e)))
            prev, seq = "?", -1
            continue
        report.records += 1
        shape = _shape(rec)
        if shape is not None:
            add(Finding(lineno, "chain", shape))
        body = {k: v for k, v in rec.items() if k != "hash"}
        if rec.get("hash") != _sha256(canonical(body)):
            add(Finding(lineno, "chain", "record hash does not match its content (altered)"))
        if "mac" in rec:
            report.macs += 1
        if secret is not None:
            mac = rec.get("mac")
            if not isinstance(mac, str):
                add(Finding(lineno, "chain", "no MAC (written without the key, or stripped)"))
            elif hmac.compare_digest(mac, record_mac(secret, rec)):
                matched += 1
            else:
                add(Finding(lineno, "chain", "MAC does not match (altered, or the wrong key)"))
        if prev != "?" and rec.get("prev") != prev:
            add(
                Finding(
                    lineno,
                    "chain",
                    "previous-hash link broken (a line before it was deleted, "
                    "reordered or altered)",
                )
            )
        got = rec.get("seq")
        if seq >= 0 and got != seq + 1:
            add(Finding(lineno, "chain", f"sequence {got!r} follows {seq}"))
        prev = str(rec.get("hash"))
        seq = got if type(got) is int else -1
        if seq >= 0:
            report.seq = seq
        head_seen = head_seen or prev == expect_head
        if current is not None and rec.get("policy_hash") != current:
            add(Finding(lineno, "warning", "written under a different policy than --config"))
        for v in _violations(rec, checks):
            add(Finding(lineno, "violation", v))
    report.head = prev
    if expect_head is not None and not head_seen:
        add(
            Finding(
                lineno,
                "chain",
                f"the expected head {expect_head[:16]}… is not in the chain "
                "(lines removed from the end, or the log was rewritten)",
            )
        )
    if expect_seq is not None and report.seq < expect_seq:
        add(
            Finding(
                lineno,
                "chain",
                f"log ends at seq {report.seq}, expected at least {expect_seq} "
                "(lines removed from the end?)",
            )
        )
    _notes(report, matched, tail=expect_head is not None or expect_seq is not None)
    return report


def _notes(report: VerifyReport, matched: int, *, tail: bool) -> None:
    note = report.notes.append
    if report.keyed:
        if report.macs and not matched:
            note("no record's MAC matches: is it the key the log was written with?")
    elif report.macs:
        note(
            f"{report.macs} of {report.records} record(s) carry a MAC but no key was given: "
            "only the structure and hash chain were checked, which anyone who can write "
            "the file can recompute (give the key: --key-env VAR or a --config with "
            "telemetry.audit_key)"
        )
    elif report.records:
        note(
            "records carry no MAC: the hash chain detects damage, not a writer who rewrites "
            "lines and recomputes the chain (set telemetry.audit_key for a MAC'd log)"
        )
    if not tail and report.records:
        note(
            "lines removed from the end are not detectable without a sequence number "
            "or head noted elsewhere (--expect-seq N, --expect-head HASH)"
        )
