"""What ``llm-router init`` finds, and the config it writes from it.

Local servers are found on their default **loopback** ports only (nothing
else is ever contacted): Ollama through ``GET /api/tags``, the
OpenAI-compatible servers through ``GET /v1/models``. Hosted and frontier
providers are found by their API-key variable being set; they are not
contacted, and the file names the variable (``${OPENAI_API_KEY}``), never
its value. Recognised models get their catalog entry (licence, openness,
context window, price).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..catalog import CatalogEntry, load_catalog
from ..errors import ConfigError
from ..providers.presets import NATIVE, PRESETS

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_PORTS",
    "LOOPBACK",
    "Found",
    "LocalPort",
    "catalog_key",
    "discover_local",
    "keyed_providers",
    "model_ids",
    "policy_file",
    "render",
]

LOOPBACK = ("127.0.0.1", "localhost")
DEFAULT_POLICY = "no-data-leaves-infra"


@dataclass(frozen=True, slots=True)
class LocalPort:
    """Where a kind of local server listens by default, and what lists its models."""

    kind: str
    port: int
    path: str
    label: str


DEFAULT_PORTS: tuple[LocalPort, ...] = (
    LocalPort("ollama", 11434, "/api/tags", "Ollama"),
    LocalPort("lmstudio", 1234, "/v1/models", "LM Studio"),
    LocalPort("vllm", 8000, "/v1/models", "vLLM"),
    LocalPort("sglang", 30000, "/v1/models", "SGLang"),
    LocalPort("llamacpp_server", 8080, "/v1/models", "llama.cpp server"),
)
"""The ports ``init`` looks at (8000 may also be llama-cpp-python or TensorRT-LLM,
8080 TGI: the ``owned_by`` of the listed models tells them apart)."""

# ``owned_by`` of /v1/models → the preset that server is.
_OWNERS = {
    "llamacpp": "llamacpp_server",
    "vllm": "vllm",
    "sglang": "sglang",
    "me": "llama_cpp_python",
    "tgi": "tgi",
    "huggingface": "tgi",
    "tensorrt_llm": "tensorrt_llm",
}


@dataclass(frozen=True, slots=True)
class Found:
    """A local server that answered: its preset, address and models."""

    kind: str
    base_url: str
    models: tuple[str, ...]
    label: str


def model_ids(kind: str, body: Any) -> list[str] | None:
    """The model ids a list-models answer names (``None``: not such an answer).

    ``ollama``: ``{"models": [{"name"}]}``; ``gemini``: ``{"models": [{"name":
    "models/x"}]}``; every other kind: ``{"data": [{"id"}]}``.
    """
    if not isinstance(body, Mapping):
        return None
    if kind in ("ollama", "gemini"):
        items, field = body.get("models"), "name"
    else:
        items, field = body.get("data"), "id"
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get(field), str):
            out.append(
                str(item[field]).removeprefix("models/") if kind == "gemini" else item[field]
            )
    return out


def _owner_kind(body: Any, default: str) -> str:
    data = body.get("data") if isinstance(body, Mapping) else None
    for item in data if isinstance(data, list) else ():
        owner = item.get("owned_by") if isinstance(item, Mapping) else None
        if isinstance(owner, str) and owner.lower() in _OWNERS:
            return _OWNERS[owner.lower()]
    return default


def discover_local(
    ports: Sequence[LocalPort] = DEFAULT_PORTS,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 0.5,
    transport: httpx.BaseTransport | None = None,
) -> list[Found]:
    """The local servers answering on ``ports`` of ``host`` (loopback only)."""
    if host not in LOOPBACK:
        raise ValueError(f"discovery only contacts loopback ({', '.join(LOOPBACK)}), not {host!r}")
    found: list[Found] = []
    timeout = httpx.Timeout(timeout_s * 4, connect=timeout_s)
    with httpx.Client(timeout=timeout, transport=transport, trust_env=False) as client:
        for p in ports:
            try:
                resp = client.get(f"http://{host}:{p.port}{p.path}")
                body = resp.json() if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                continue
            kind = p.kind if p.kind == "ollama" else _owner_kind(body, p.kind)
            ids = model_ids(kind, body)
            if ids is None:
                continue
            base = f"http://{host}:{p.port}" + ("" if kind == "ollama" else "/v1")
            found.append(Found(kind, base, tuple(ids), p.label))
    return found


def keyed_providers(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(kind, VAR)`` of each hosted or frontier kind whose key variable is set
    (hosted first); kinds that need a base URL of their own (Azure) are left out."""
    kinds: list[tuple[str, str, str]] = []
    for name, p in PRESETS.items():
        if p.api_key_env and p.zone in ("hosted", "frontier") and p.base_url:
            kinds.append((p.zone, name, p.api_key_env))
    for name, n in NATIVE.items():
        if n.api_key_env and n.zone in ("hosted", "frontier") and not n.needs_base_url:
            kinds.append((n.zone, name, n.api_key_env))
    kinds.sort(key=lambda k: k[0] != "hosted")
    return [(name, var) for _, name, var in kinds if environ.get(var)]


def _norm(model_id: str) -> str:
    s = model_id.lower().rsplit("/", 1)[-1].removesuffix(".gguf")
    s = s.removesuffix(":latest").replace(":", "-").replace("_", "-")
    for suffix in ("-instruct", "-it", "-chat"):
        s = s.removesuffix(suffix)
    return s


def catalog_key(
    model_id: str,
    provider_kind: str | None = None,
    catalog: Mapping[str, CatalogEntry] | None = None,
) -> str | None:
    """The catalog entry of ``model_id``: ``key@provider`` when that provider's
    offering is listed (its price comes along), else the model's own key."""
    cat = catalog if catalog is not None else load_catalog()
    wanted = model_id.lower()
    for key, entry in cat.items():
        if "@" in key:
            continue
        for o in entry.offerings:
            if o.model.lower() == wanted:
                if provider_kind == o.provider and f"{key}@{o.provider}" in cat:
                    return f"{key}@{o.provider}" if o.price is not None else key
                return key
    norm = _norm(model_id)
    for key in cat:
        if "@" not in key and norm == key:
            return key
    return None


def _facts(entry: CatalogEntry) -> str:
    parts = [entry.name]
    for label, field in (("licence", "license"), ("openness", "openness")):
        if entry.get(field):
            parts.append(f"{label} {entry.get(field)}")
    if entry.get("context_window"):
        parts.append(f"context {entry.get('context_window')} tokens")
    price = entry.offering.price if entry.offering is not None else None
    if price:
        parts.append(f"${price['input']}/${price['output']} per M tokens in/out")
    return ", ".join(str(p) for p in parts)


def _cheapest_offering(kind: str, catalog: Mapping[str, CatalogEntry]) -> list[tuple[str, str]]:
    """``(catalog key, model id)`` of ``kind``'s priced offerings, cheapest output first.

    Models their developer has deprecated or retired are never suggested.
    """
    found: list[tuple[float, str, str]] = []
    for k, e in catalog.items():
        o = e.offering
        if e.status in ("deprecated", "retired"):
            continue
        if k.endswith(f"@{kind}") and o is not None and o.price:
            found.append((float(o.price["output"]), k, o.model))
    return [(k, m) for _, k, m in sorted(found)]


def policy_file(name: str) -> Path | None:
    """The ready-made policy ``name`` (``policies/NAME.yaml``; a path works too)."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        p = root / "policies" / f"{name}.yaml"
        if p.is_file():
            return p
    return None


def policy_names() -> list[str]:
    """The ready-made policies that can be found from here."""
    names: set[str] = set()
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        names.update(
            p.stem for p in (root / "policies").glob("*.yaml") if not p.stem.endswith(".test")
        )
    return sorted(names)


# The default policy's one rule, for an install without the policies/ directory.
_BUILTIN_RULES = """\
rules:
  - name: confidential-stays-home
    when: {sensitivity: ">= confidential"}
    allow: {zone: [local]}
"""


def _policy_section(name: str) -> str:
    path = policy_file(name)
    if path is None:
        if name == DEFAULT_POLICY:
            return f"# Policy: {name} (built in): confidential requests stay in zone local.\n" + (
                _BUILTIN_RULES
            )
        known = ", ".join(policy_names()) or DEFAULT_POLICY
        raise ConfigError(f"unknown policy {name!r}; ready-made policies: {known}")
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ConfigError("a policy file is a mapping", file=str(path))
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    keep = {k: v for k, v in data.items() if k not in ("providers", "models", "routes")}
    body = yaml.safe_dump(keep, sort_keys=False, default_flow_style=None, width=100) if keep else ""
    return f"# Policy: {path.stem} (from {path.as_posix()})\n" + "\n".join(header) + "\n" + body


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML string


def _name(model_id: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", model_id.lower().rsplit("/", 1)[-1]).strip("-") or "model"
    base = base.removesuffix("-latest")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def render(
    local: Iterable[Found],
    keyed: Iterable[tuple[str, str]],
    policy: str = DEFAULT_POLICY,
    *,
    catalog: Mapping[str, CatalogEntry] | None = None,
) -> str:
    """The commented config for what was found (the embedded default when nothing was)."""
    cat = catalog if catalog is not None else load_catalog()
    local, keyed = list(local), list(keyed)
    out = [
        f"# Written by `llm-router init` on {date.today().isoformat()} from what was found here.",
        "# Check it:   llm-router validate <this file> && llm-router doctor <this file>",
        "# API keys are read from the environment (${VAR}); no key is stored in this file.",
        "",
    ]
    if not local and not keyed:
        from ..config.defaults import default_config

        data = default_config()
        out += [
            "# Nothing was found (no local server on its default port, no API key set):",
            "# the embedded default, SmolLM2 in process (scripts/install.sh fetches it).",
            yaml.safe_dump(
                {k: data[k] for k in ("providers", "models")},
                sort_keys=False,
                default_flow_style=None,
                width=100,
            ),
        ]
        out += [_policy_section(policy), "routes:", "  default: {candidates: [smollm2]}", ""]
        return "\n".join(out)

    providers, models, candidates = ["providers:"], ["models:"], []
    taken_p: set[str] = set()
    taken_m: set[str] = set()
    for f in local:
        pname = _name(f.kind.replace("_", "-"), taken_p)
        providers.append(f"  # {f.label}, found on {f.base_url}")
        providers.append(f"  {pname}: {{kind: {f.kind}, base_url: {_q(f.base_url)}, zone: local}}")
        if not f.models:
            models.append(f"  # {pname} lists no model yet")
        for mid in f.models:
            mname = _name(mid, taken_m)
            key = catalog_key(mid, f.kind, cat)
            if key is not None:
                models.append(f"  # {_facts(cat[key])} (catalog: {key})")
                models.append(
                    f"  {mname}: {{provider: {pname}, model: {_q(mid)}, catalog: {_q(key)}}}"
                )
            else:
                models.append("  # not in the catalog: add license, openness, context_window")
                models.append(f"  {mname}: {{provider: {pname}, model: {_q(mid)}}}")
            candidates.append(mname)
    unlisted: list[str] = []
    for kind, var in keyed:
        pname = _name(kind.replace("_", "-"), taken_p)
        providers.append(f"  # {var} is set (the value is read when the config is loaded)")
        providers.append(f"  {pname}: {{kind: {kind}, api_key: {_q('${' + var + '}')}}}")
        offers = _cheapest_offering(kind, cat)
        if not offers:
            unlisted.append(f"{var} ({kind})")
            models.append(f"  # {pname}: no model of it in the catalog; add one, e.g.")
            models.append(f"  # my-model: {{provider: {pname}, model: <its model id>}}")
            continue
        key, mid = offers[0]
        mname = _name(mid, taken_m)
        others = [m for _, m in offers[1:4]]
        models.append(f"  # {_facts(cat[key])} (catalog: {key})")
        if others:
            models.append(f"  # (its cheapest in the catalog; others: {', '.join(others)})")
        models.append(f"  {mname}: {{provider: {pname}, model: {_q(mid)}, catalog: {_q(key)}}}")
        candidates.append(mname)
    if not candidates:
        if unlisted:  # keys found, but the catalog has nothing current to suggest for them
            raise ConfigError(
                f"{', '.join(unlisted)} is set, but the bundled catalog lists no priced model "
                "of it that its developer has not deprecated or retired; write the config "
                "by hand naming a current model, e.g. "
                "models: {my-model: {provider: <name>, model: <its model id>}}"
            )
        raise ConfigError(
            "found servers but no model on any of them (pull or load one, then run init again)"
        )
    out += [*providers, "", *models, "", _policy_section(policy)]
    out += [
        "routes:",
        "  # Local targets first, then hosted, then frontier: the first that the rules",
        "  # allow and that answers serves the request.",
        f"  default: {{candidates: [{', '.join(candidates)}]}}",
        "",
    ]
    return "\n".join(out)
