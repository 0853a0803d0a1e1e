"""The audit log: one hash-chained JSON line per request, and its verifier.

Each record says who asked (tenant, tags), what the policy concluded
(sensitivity level, matched rules, admitted plan) and where the request
actually went (every contacted target with its trust attributes: zone,
region, provider, …), with the cost and the hash of the policy in force. It
never holds message content, API keys or provider error text.

Records are chained: each carries the hash of the previous record (``prev``)
and its own hash over its canonical JSON (``hash``), plus a sequence number.
Editing, reordering, deleting or truncating a line breaks the chain where it
happened. Deleting lines *at the end* leaves a valid shorter chain; keep the
head hash printed by ``llm-router audit verify`` somewhere else to detect that.

Writes are safe across threads (a lock) and processes (``O_APPEND`` plus an
exclusive ``flock`` while the previous hash is read and the line written).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from ..config.schema import Config, Matcher, RuleConfig, TrustFilter
    from ..errors import NoEligibleTarget
    from ..execution.call import Call
    from ..targets import Target
    from ..types import ChatResponse

try:  # POSIX; elsewhere only the in-process lock protects the chain.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "GENESIS",
    "AuditLog",
    "Finding",
    "VerifyReport",
    "canonical",
    "denied_record",
    "policy_hash",
    "request_record",
    "verify_log",
]

FORMAT_VERSION = 1
GENESIS = "0" * 64
"""The ``prev`` of the first record of a log."""

_TRUST_FIELDS = (
    "zone",
    "region",
    "provider",
    "model",
    "data_retention",
    "license",
    "openness",
    "origin",
)


def canonical(obj: Any) -> bytes:
    """The canonical JSON bytes of ``obj`` (sorted keys, no spaces, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def _trust(t: Target) -> dict[str, Any]:
    return {
        "target": t.name,
        "provider": t.provider,
        "kind": t.kind,
        "provider_name": t.provider_name,
        "model": t.model_id,
        "zone": t.zone,
        "region": t.region,
        "data_retention": t.data_retention,
        "license": t.license,
        "openness": t.openness,
        "origin": t.origin,
    }


def _now_iso(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def request_record(
    call: Call,
    *,
    policy: str,
    response: ChatResponse | None = None,
    error: BaseException | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The audit record of a call that was executed (successfully or not)."""
    d = call.decision
    by_name = {t.name: t for t in d.plan}
    attempts = []
    for a in call.walker.attempts:
        t = by_name.get(a.target)
        entry: dict[str, Any] = _trust(t) if t is not None else {"target": a.target, "zone": a.zone}
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
        "plan": [_trust(t) for t in d.plan],
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
    """An append-only, hash-chained JSONL file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        # What this process last wrote: (file size after it, seq, hash). When
        # the file still has that size no other process wrote since.
        self._tail: tuple[int, int, str] | None = None

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``record`` to the log's last line, write it, and return it as written."""
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
                rec = {"v": FORMAT_VERSION, "seq": seq + 1, **record, "prev": prev}
                rec["hash"] = _sha256(canonical(rec))
                line = (b"\n" if torn else b"") + canonical(rec) + b"\n"
                os.write(fd, line)
                self._tail = (size + len(line), seq + 1, rec["hash"])
                return rec
            finally:
                os.close(fd)  # closing releases the flock


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
    findings: list[Finding] = field(default_factory=list)
    unchecked_rules: dict[str, str] = field(default_factory=dict)
    """Rules whose conditions or effects cannot be re-checked from the log, with why."""

    @property
    def ok(self) -> bool:
        """No integrity break and no policy violation (warnings allowed)."""
        return not any(f.kind in ("chain", "violation") for f in self.findings)


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


def _values(attempt: Mapping[str, Any], name: str) -> frozenset[str]:
    """What a trust filter compares on ``name``, as the engine does (case-folded)."""
    raw: tuple[Any, ...]
    if name == "provider":
        raw = (attempt.get("provider"), attempt.get("kind"))
    elif name == "model":
        raw = (attempt.get("target"), attempt.get("model"))
    else:
        raw = (attempt.get(name),)
    return frozenset(str(v).casefold() for v in raw if v)


def _filter_fields(f: TrustFilter) -> list[tuple[str, frozenset[str]]]:
    out = []
    for name in _TRUST_FIELDS:
        values = getattr(f, name)
        if values is not None:
            out.append((name, frozenset(v.casefold() for v in values)))
    return out


def _allow_failure(f: TrustFilter, attempt: Mapping[str, Any]) -> str | None:
    """Why ``allow`` does not admit the target (every listed field must), or None."""
    for name, values in _filter_fields(f):
        have = _values(attempt, name)
        if have.isdisjoint(values):
            shown = sorted(have) if have else "unset"
            return f"allows {name} in {sorted(values)}, target has {shown}"
    return None


def _deny_hit(f: TrustFilter, attempt: Mapping[str, Any]) -> str | None:
    """Which ``deny`` field the target hits (any one excludes it), or None."""
    for name, values in _filter_fields(f):
        hit = _values(attempt, name) & values
        if hit:
            return f"denies {name} {sorted(hit)}"
    return None


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


def _violations(rec: Mapping[str, Any], checks: Iterable[_Check]) -> Iterator[str]:
    plan = {p.get("target") for p in rec.get("plan") or ()}
    for a in rec.get("attempts") or ():
        who = f"attempt to {a.get('target')!r} (zone {a.get('zone')!r})"
        if a.get("target") not in plan:
            yield f"{who} was not in the admitted plan"
        for c in checks:
            if not c.when(rec):
                continue
            why = (c.rule.allow and _allow_failure(c.rule.allow, a)) or (
                c.rule.deny and _deny_hit(c.rule.deny, a)
            )
            if why:
                yield f"{who} breaks rule {c.rule.name!r}: {why}"


def verify_log(
    path: str | os.PathLike[str], config: Config | None = None, *, expect_head: str | None = None
) -> VerifyReport:
    """Check a log's hash chain and, with ``config``, every record against its policy."""
    report = VerifyReport()
    checks = _checks(config, report) if config is not None else []
    current = policy_hash(config) if config is not None else None
    prev, seq, lineno = GENESIS, 0, 0
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
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError:
            add(Finding(lineno, "chain", "not a JSON record (truncated or altered)"))
            prev, seq = "?", -1
            continue
        report.records += 1
        body = {k: v for k, v in rec.items() if k != "hash"}
        if rec.get("hash") != _sha256(canonical(body)):
            add(Finding(lineno, "chain", "record hash does not match its content (altered)"))
        if prev != "?" and rec.get("prev") != prev:
            add(
                Finding(
                    lineno,
                    "chain",
                    "previous-hash link broken (a line before it was deleted, "
                    "reordered or altered)",
                )
            )
        if seq >= 0 and rec.get("seq") != seq + 1:
            add(Finding(lineno, "chain", f"sequence {rec.get('seq')} follows {seq}"))
        prev = str(rec.get("hash"))
        got = rec.get("seq")
        seq = got if isinstance(got, int) else -1
        if current is not None and rec.get("policy_hash") != current:
            add(Finding(lineno, "warning", "written under a different policy than --config"))
        for v in _violations(rec, checks):
            add(Finding(lineno, "violation", v))
    report.head = prev
    if expect_head is not None and prev != expect_head:
        add(
            Finding(
                lineno,
                "chain",
                f"log ends at hash {prev[:16]}…, expected {expect_head[:16]}… "
                "(lines removed from the end?)",
            )
        )
    return report
