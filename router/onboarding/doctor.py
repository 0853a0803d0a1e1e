"""``llm-router doctor``: does every provider of a config answer? No tokens spent.

For each provider: reachable (DNS, connect, TLS) and the probe's latency, key
accepted, each configured model present — all from the provider's
list-models call (OpenAI-compatible ``GET /models``, Anthropic ``GET
/v1/models``, Gemini ``GET models``, Ollama ``GET /api/tags``). Then the
state store (a key written, read and deleted) and the audit log (writable).
:func:`probe_for` builds the request and :func:`judge` reads the answer;
:func:`doctor` sends them. Every message is scrubbed of the provider's
secrets: a key is named by its variable, never shown.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ..config.schema import Config
from ..credentials import mask_url, provider_secrets, scrub_text
from ..targets import Target, resolve_targets
from .discover import DEFAULT_PORTS, model_ids

__all__ = ["Check", "Probe", "doctor", "exit_status", "judge", "probe_for"]

_LABELS = {p.kind: p.label for p in DEFAULT_PORTS} | {
    "llama_cpp_python": "llama-cpp-python",
    "tgi": "TGI",
    "tensorrt_llm": "TensorRT-LLM",
    "ollama_openai": "Ollama",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: ``ok``, ``fail`` (a route needs it: exit 1), ``warn`` (broken,
    but no route needs it, or not checkable) or ``skip``."""

    subject: str
    check: str
    status: str
    message: str
    required: bool = True
    latency_ms: float | None = None

    def line(self) -> str:
        """One line for a terminal."""
        verdict = {"ok": "ok", "fail": "FAIL", "warn": "warn", "skip": "skip"}[self.status]
        return f"{verdict:<4} {self.subject} {self.check}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``doctor --json``."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Probe:
    """The list-models request of one provider."""

    method: str
    url: str
    headers: dict[str, str]


def probe_for(t: Target) -> Probe | None:
    """The list-models request for ``t``'s provider (``None``: the embedded engine)."""
    from ..providers import anthropic, gemini, ollama
    from ..providers.azure_openai import DEFAULT_API_VERSION

    e = t.endpoint
    headers = dict(e.headers)
    if t.kind == "embedded":
        return None
    if t.kind == "anthropic":
        base = (e.base_url or anthropic.DEFAULT_BASE_URL).rstrip("/").removesuffix("/v1")
        headers["anthropic-version"] = e.api_version or anthropic.ANTHROPIC_VERSION
        if e.api_key:
            headers["x-api-key"] = e.api_key
        return Probe("GET", f"{base}/v1/models?limit=1000", headers)
    if t.kind == "gemini":
        base = (e.base_url or gemini.DEFAULT_BASE_URL).rstrip("/")
        if e.api_key:
            headers["x-goog-api-key"] = e.api_key
        version = e.api_version or gemini.API_VERSION
        return Probe("GET", f"{base}/{version}/models?pageSize=1000", headers)
    if t.kind == "ollama":
        if e.api_key:
            headers["authorization"] = f"Bearer {e.api_key}"
        base = (e.base_url or ollama.DEFAULT_BASE_URL).rstrip("/")
        return Probe("GET", f"{base}/api/tags", headers)
    if t.kind == "azure_openai":
        if e.api_key:
            headers["api-key"] = e.api_key
        version = quote(e.api_version or DEFAULT_API_VERSION, safe="-._~")
        return Probe(
            "GET", f"{e.base_url.rstrip('/')}/openai/models?api-version={version}", headers
        )
    if e.api_key:
        headers["authorization"] = f"Bearer {e.api_key}"
    return Probe("GET", e.base_url.rstrip("/") + "/models", headers)


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _unreachable(t: Target, url: str, e: Exception) -> str:
    text = str(e) or type(e).__name__
    low = text.lower()
    where = _host_port(url)
    if isinstance(e, httpx.TimeoutException):
        return f"no answer from {where} in time ({type(e).__name__}): is it overloaded?"
    if any(s in low for s in ("name or service", "nodename", "getaddrinfo", "name resolution")):
        return f"cannot resolve {urlsplit(url).hostname}: check base_url and DNS ({text})"
    if "ssl" in low or "certificate" in low or "tls" in low:
        return f"TLS handshake with {where} failed: {text}"
    if "refused" in low:
        label = _LABELS.get(t.kind)
        if label is not None and t.zone == "local":
            return f"connection refused: is {label} running on {where}?"
        return f"connection refused by {where}: check base_url"
    return f"cannot reach {where}: {text}"


def _present(kind: str, wanted: str, ids: list[str]) -> bool:
    if wanted in ids:
        return True
    if kind == "ollama" and ":" not in wanted:
        return f"{wanted}:latest" in ids
    if kind == "gemini":
        return wanted.removeprefix("models/") in ids
    return False


def judge(
    provider: str,
    targets: list[Target],
    status: int,
    body: Any,
    *,
    key_name: str | None,
    required: set[str],
    latency_ms: float | None = None,
) -> list[Check]:
    """The checks a list-models answer settles: key accepted, each model present."""
    t = targets[0]
    need = any(x.name in required for x in targets)
    has_key = bool(t.endpoint.api_key)
    checks: list[Check] = []
    if status in (401, 403):
        msg = (
            f"{key_name} is set but the provider rejected it ({status})"
            if has_key
            else f"the provider wants a key ({status}): set {key_name or 'api_key'}"
        )
        checks.append(Check(provider, "key", "fail", msg, need))
        return checks
    if not 200 <= status < 300:
        hint = " (is base_url right?)" if status == 404 else ""
        checks.append(
            Check(provider, "models", "fail", f"listing models answered {status}{hint}", need)
        )
        return checks
    if has_key:
        checks.append(Check(provider, "key", "ok", f"{key_name or 'key'} accepted", need))
    ids = model_ids(t.kind, body)
    if t.kind == "azure_openai":
        ids = None  # deployments are not in the model list
    for x in targets:
        subject = f"{provider}/{x.model_id}"
        req = x.name in required
        if ids is None:
            checks.append(
                Check(
                    subject, "model", "warn", "the model list could not be read: not checked", req
                )
            )
        elif _present(t.kind, x.model_id, ids):
            checks.append(Check(subject, "model", "ok", f"listed (model {x.name})", req))
        elif t.kind == "ollama":
            msg = f"{x.model_id} is not pulled on {provider}: ollama pull {x.model_id}"
            checks.append(Check(subject, "model", "fail", msg, req))
        else:
            shown = ", ".join(sorted(ids)[:8]) + (", …" if len(ids) > 8 else "")
            msg = f"{x.model_id} is not served by {provider} (it lists: {shown or 'nothing'})"
            checks.append(Check(subject, "model", "fail", msg, req))
    return checks


def _embedded(provider: str, targets: list[Target], required: set[str]) -> list[Check]:
    from ..config.defaults import fetch_hint

    checks: list[Check] = []
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        need = any(x.name in required for x in targets)
        msg = "llama-cpp-python is not installed: pip install 'llm-policy-router[local]'"
        checks.append(Check(provider, "engine", "fail", msg, need))
    else:
        checks.append(Check(provider, "engine", "ok", "llama-cpp-python importable"))
    for x in targets:
        req = x.name in required
        if Path(x.model_id).is_file():
            checks.append(Check(f"{provider}/{x.name}", "model", "ok", "model file present", req))
        else:
            msg = " ".join(fetch_hint(x.model_id).split())
            checks.append(Check(f"{provider}/{x.name}", "model", "fail", msg, req))
    return checks


def _provider(
    client: httpx.Client,
    provider: str,
    targets: list[Target],
    required: set[str],
    key_name: str | None,
) -> list[Check]:
    t = targets[0]
    need = any(x.name in required for x in targets)
    if t.kind == "embedded":
        return _embedded(provider, targets, required)
    checks: list[Check] = []
    if t.endpoint.quirks.requires_key and not t.endpoint.api_key:
        msg = f"{key_name or 'api_key'} is not set: export {key_name} or set api_key"
        checks.append(Check(provider, "key", "fail", msg, need))
    probe = probe_for(t)
    assert probe is not None
    start = time.perf_counter()
    try:
        resp = client.request(probe.method, probe.url, headers=probe.headers)
    except (httpx.HTTPError, OSError) as e:
        checks.append(Check(provider, "reachable", "fail", _unreachable(t, probe.url, e), need))
        return checks
    ms = round((time.perf_counter() - start) * 1000, 1)
    where = mask_url(probe.url.split("?", 1)[0])
    checks.append(Check(provider, "reachable", "ok", f"{where} answered in {ms} ms", need, ms))
    try:
        body = resp.json()
    except ValueError:
        body = None
    if checks[0].check == "key" and resp.status_code in (401, 403):
        return checks  # "not set" already says it
    checks += judge(provider, targets, resp.status_code, body, key_name=key_name, required=required)
    return checks


def _state(config: Config) -> Check:
    url = config.state
    shown = mask_url(url) or url
    if url == "memory":
        return Check("state", "store", "ok", "memory (per process; nothing to reach)")
    from ..state import open_store

    secrets = provider_secrets(base_url=url)
    key = f"llm-router:doctor:{uuid.uuid4().hex}"
    try:
        store = open_store(url, resilient=False)
        try:
            store.set(key, "1", ttl_s=60)
            ok = store.get(key) == "1"
            store.delete(key)
        finally:
            store.close()
    except Exception as e:
        msg = scrub_text(f"cannot use {shown}: {type(e).__name__}: {e}", secrets)
        return Check("state", "store", "fail", msg)
    if not ok:
        return Check("state", "store", "fail", f"{shown}: a key written could not be read back")
    return Check("state", "store", "ok", f"{shown} reachable and writable")


def _audit(config: Config) -> Check | None:
    path = config.telemetry.audit_log
    if not path:
        return None
    p = Path(path)
    if p.exists():
        if p.is_file() and os.access(p, os.W_OK):
            return Check("audit_log", "writable", "ok", f"{path} is writable")
        return Check("audit_log", "writable", "fail", f"{path} is not a writable file")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Check("audit_log", "writable", "ok", f"{path} can be created")
    return Check("audit_log", "writable", "fail", f"{parent} does not exist or is not writable")


def doctor(
    config: Config,
    *,
    catalog: Mapping[str, Any] | None = None,
    key_names: Mapping[str, str] | None = None,
    timeout_s: float = 5.0,
    transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    """Every check of ``config``, in config order (providers, state, audit log).

    ``key_names`` names, per provider, the variable its ``api_key`` is read from
    (``${VAR}`` in the file); otherwise the kind's default variable is named.
    A failed check that no route needs is downgraded to ``warn``.
    """
    if catalog is None:
        from ..catalog import LazyCatalog

        catalog = LazyCatalog()
    targets = resolve_targets(config, catalog)
    required = {m for r in config.routes.values() for m in r.all_models()}
    by_provider: dict[str, list[Target]] = {}
    for t in targets.values():
        by_provider.setdefault(t.provider, []).append(t)
    checks: list[Check] = []
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        for provider, group in by_provider.items():
            key_name = (key_names or {}).get(provider) or group[0].api_key_env
            secrets = group[0].secrets
            for c in _provider(client, provider, group, required, key_name):
                msg = scrub_text(c.message, secrets)
                status = "warn" if c.status == "fail" and not c.required else c.status
                checks.append(Check(c.subject, c.check, status, msg, c.required, c.latency_ms))
        unused = [p for p in config.providers if p not in by_provider]
        for p in unused:
            checks.append(Check(p, "models", "skip", "no model uses this provider", False))
    checks.append(_state(config))
    audit = _audit(config)
    if audit is not None:
        checks.append(audit)
    return checks


def exit_status(checks: list[Check]) -> int:
    """1 when something a route needs is broken, else 0."""
    return 1 if any(c.status == "fail" and c.required for c in checks) else 0
