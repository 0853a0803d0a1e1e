"""The bundled catalog: complete, well-formed, dated, loaded lazily; a malformed
data file is a CatalogError naming each bad field."""

from __future__ import annotations

import datetime as dt
import math
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.catalog import CatalogError, load_catalog, parse_catalog
from router.catalog.freshness import parse_as_of
from router.catalog.validate import CAPABILITIES
from router.catalog.validate import OPENNESS as CATALOG_OPENNESS
from router.config.schema import Capability, ModelConfig, Openness
from router.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

FAMILIES = {
    "llama",
    "qwen",
    "deepseek",
    "mistral",
    "gemma",
    "phi",
    "yi",
    "olmo",
    "smollm",
    "gpt",
    "claude",
    "gemini",
}
OPENNESS = {"closed", "open_weights_restricted", "open_weights_permissive", "fully_open"}


def test_covers_the_families() -> None:
    assert {e.family for e in load_catalog().values()} >= FAMILIES


@pytest.mark.parametrize("key", sorted(load_catalog()))
def test_entry_is_well_formed(key: str) -> None:
    e = load_catalog()[key]
    assert e.get("openness") in OPENNESS
    assert e.get("license") and e.get("origin") and e.get("context_window", 0) > 0
    # What a config model inherits validates as a ModelConfig.
    ModelConfig.model_validate({"provider": "p", "model": "m", **e.model_dump()})
    parse_as_of(e.as_of)  # every entry is dated (its own as_of or the file's)
    if e.offering is not None and e.offering.price is not None:
        p = e.offering.price
        assert re.fullmatch(r"https://[^\s/]+\.[^\s/]+(/\S*)?", p["source"]), p["source"]
        assert parse_as_of(p["as_of"]) <= dt.date(2026, 12, 5) and p["as_of"]
        assert p["input"] >= 0 and p["output"] >= 0
    if e.get("openness") == "closed":
        assert all(o.price is not None for o in e.offerings), "hosted offerings carry prices"


def test_licence_facts() -> None:
    c = load_catalog()
    assert (
        "700M" in c["llama-3.3-70b"].license_notes
        and "Built with Llama" in c["llama-3.3-70b"].license_notes
    )
    assert c["qwen3-32b"].get("license") == "apache-2.0"
    assert c["deepseek-r1"].get("license") == "mit"
    assert c["gemma-3-27b"].get("openness") == "open_weights_restricted"
    assert c["olmo-2-7b"].get("openness") == "fully_open"
    assert c["gpt-4.1"].get("openness") == "closed"


def test_offering_key_adds_the_price() -> None:
    c = load_catalog()
    assert "price" not in c["llama-3.3-70b"].model_dump()
    assert c["llama-3.3-70b@groq"].model_dump()["price"]["input"] == 0.59


def test_importing_and_deciding_without_catalog_refs_does_not_parse_it() -> None:
    code = (
        "import router, router.catalog as c\n"
        "from router.policy import Policy\n"
        "from router.config import load_dict\n"
        "Policy(load_dict({'providers': {'p': {'kind': 'vllm', 'base_url': 'http://127.0.0.1:1'}},"
        " 'models': {'m': {'provider': 'p', 'model': 'x'}}}))\n"
        "assert c.load_catalog.cache_info().currsize == 0, 'catalog parsed'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_price_has_a_source_and_a_date() -> None:
    prices = [(e.key, o.price) for e in load_catalog().values() for o in e.offerings if o.price]
    assert len(prices) > 30
    for key, p in prices:
        assert p["source"].startswith("https://"), key
        parse_as_of(p["as_of"])


def test_every_llama_entry_carries_the_700m_clause() -> None:
    llamas = [e for e in load_catalog().values() if e.family == "llama"]
    assert {e.key for e in llamas} >= {"llama-4-scout", "llama-4-maverick", "llama-3.3-70b"}
    for e in llamas:
        assert "700M monthly active users" in e.license_notes, e.key
        assert "Built with Llama" in e.license_notes, e.key


def test_openness_and_capabilities_match_the_config_schema() -> None:
    # The catalog keeps its own copies (it imports nothing of the router).
    assert set(typing.get_args(Openness)) == CATALOG_OPENNESS == OPENNESS
    assert set(typing.get_args(Capability)) == CAPABILITIES
    assert {e.get("openness") for e in load_catalog().values()} <= OPENNESS


def test_refreshed_families_are_present() -> None:
    c = load_catalog()
    for key in (
        "llama-4-scout",
        "llama-4-maverick",
        "qwen3-coder-480b-a35b",
        "qwen3-235b-a22b",
        "deepseek-v3",
        "deepseek-r1",
        "magistral-small",
        "gemma-3-12b",
        "phi-4",
        "olmo-2-32b",
        "gpt-oss-20b",
        "gpt-oss-120b",
        "claude-opus-4-5@anthropic",
        "claude-opus-5@anthropic",
        "gpt-5-nano@openai",
    ):
        assert key in c, key
    opus = c["claude-opus-4-5@anthropic"].model_dump()["price"]
    assert opus["cache_write"] > opus["input"] > opus["cached_input"]


# --- every catalog key the repository names resolves --------------------------------

_KEY = r"[A-Za-z0-9][A-Za-z0-9._@-]*"
_REFS = (
    re.compile(rf"\bcatalog:\s*[\"']?({_KEY})"),  # YAML, in files and in docs
    re.compile(rf"[\"']catalog[\"']\]?\s*[:=]\s*[\"']({_KEY})[\"']"),  # Python dicts
    re.compile(rf"catalog_key\([^)]*\)\s*==\s*[\"']({_KEY})[\"']"),  # onboarding tests
)
# Names a test uses on purpose to show an unknown entry is refused.
_DELIBERATELY_UNKNOWN = {"gpt-99"}


def _referenced_keys() -> dict[str, set[str]]:
    files = [
        *ROOT.glob("policies/*.yaml"),
        *ROOT.glob("examples/**/*.py"),
        *ROOT.glob("examples/**/*.yaml"),
        *ROOT.glob("docs/*.md"),
        ROOT / "README.md",
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("benchmarks/**/*.py"),
    ]
    found: dict[str, set[str]] = {}
    for f in files:
        text = f.read_text(encoding="utf-8")
        if f.name == Path(__file__).name:
            continue  # this file's own fixtures name made-up keys
        for rx in _REFS:
            for key in rx.findall(text):
                found.setdefault(key, set()).add(f.relative_to(ROOT).as_posix())
    return found


def test_catalog_keys_named_in_the_repository_resolve() -> None:
    refs = _referenced_keys()
    # The scan must see the keys the ready-made policies use, or it proves nothing.
    assert {"llama-3.3-70b@groq", "gpt-4.1-mini@openai", "claude-opus-4-1@anthropic"} <= set(refs)
    assert "gpt-99" in refs  # the Python-dict form is seen too
    cat = load_catalog()
    missing = {
        k: sorted(where)
        for k, where in refs.items()
        if k not in cat and k not in _DELIBERATELY_UNKNOWN
    }
    assert not missing, missing


# --- a malformed data file is a clear error ------------------------------------------

_GOOD: dict[str, Any] = {
    "as_of": "2026-11",
    "models": {
        "m": {
            "name": "M",
            "family": "f",
            "developer": "D",
            "origin": "FR",
            "license": "apache-2.0",
            "openness": "open_weights_permissive",
            "context_window": 8192,
            "capabilities": ["tools"],
            "offerings": {
                "p": {
                    "model": "m-1",
                    "price": {"input": 1, "output": 2, "source": "https://p.example/pricing"},
                }
            },
        }
    },
}


def _with(path: str, value: object) -> dict[str, Any]:
    """_GOOD with the dotted ``path`` set to ``value`` (a deep copy)."""
    doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(_GOOD))
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[part]
    node[last] = value
    return doc


def test_the_minimal_document_parses() -> None:
    c = parse_catalog(_GOOD)
    assert c["m"].as_of == "2026-11" and c["m@p"].offering is not None
    assert c["m@p"].model_dump()["price"]["as_of"] == "2026-11"  # the file's date


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("as_of", "2025-13", "models.yaml: 1 problem(s)\nas_of: not a calendar date"),
        ("as_of", "2025-02-30", "as_of: not a calendar date"),
        ("as_of", "Sept 2025", "as_of: expected a date YYYY-MM-DD or YYYY-MM"),
        ("as_of", "2025-9", "as_of: expected a date"),
        ("as_of", "2025-09-01T00:00:00", "as_of: expected a date"),
        ("as_of", "\u0662\u0660\u0662\u0665-\u0660\u0669", "as_of: expected a date"),
        (
            "as_of",
            dt.datetime(2025, 9, 1),
            "as_of: expected a date YYYY-MM-DD or YYYY-MM, got datetime",
        ),
        ("as_of", 202509, "as_of: expected a date YYYY-MM-DD or YYYY-MM, got int"),
        ("models.m.as_of", "yesterday", "models.m.as_of: expected a date"),
        (
            "models.m.offerings.p.price.as_of",
            "2025-00",
            "models.m.offerings.p.price.as_of: not a calendar date",
        ),
        (
            "models.m.openness",
            "open",
            "models.m.openness: unknown value 'open'; expected one of closed, ",
        ),
        ("models.m.openness", "Closed", "models.m.openness: unknown value 'Closed'"),
        (
            "models.m.status",
            "sunset",
            "models.m.status: unknown value 'sunset'; expected one of active, ",
        ),
        ("models.m.origin", "fr", "models.m.origin: expected an ISO 3166 country code"),
        ("models.m.origin", "FRA", "models.m.origin: expected an ISO 3166 country code"),
        ("models.m.context_window", 0, "models.m.context_window: expected a whole number"),
        ("models.m.context_window", True, "models.m.context_window: expected a whole number"),
        ("models.m.capabilities", ["tools", "telepathy"], "unknown capability 'telepathy'"),
        ("models.m.licence", "mit", "models.m.licence: unknown field"),
        ("models.m.license", None, "models.m.license: missing"),
        ("models.m.offerings.p.model", "", "models.m.offerings.p.model: missing"),
        (
            "models.m.offerings.p.price.input",
            -1,
            "models.m.offerings.p.price.input: expected a finite number >= 0",
        ),
        ("models.m.offerings.p.price.output", math.nan, "price.output: expected a finite number"),
        ("models.m.offerings.p.price.output", math.inf, "price.output: expected a finite number"),
        ("models.m.offerings.p.price.output", True, "price.output: expected a finite number"),
        ("models.m.offerings.p.price.output", "0.5", "price.output: expected a finite number"),
        (
            "models.m.offerings.p.price.cached",
            0.1,
            "models.m.offerings.p.price.cached: unknown price field",
        ),
        (
            "models.m.offerings.p.price.source",
            "http://p.example/pricing",
            "price.source: expected the https:// URL",
        ),
        (
            "models.m.offerings.p.price.source",
            "https://",
            "price.source: expected the https:// URL",
        ),
        (
            "models.m.offerings.p.price.source",
            "https://p.example/a b",
            "price.source: expected the https:// URL",
        ),
        ("models.m.offerings.p.price.source", None, "price.source: expected the https:// URL"),
    ],
)
def test_malformed_fields_are_named(path: str, value: object, message: str) -> None:
    with pytest.raises(CatalogError) as err:
        parse_catalog(_with(path, value))
    assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    doc = _with("models.m.openness", "open")
    doc["models"]["m"]["as_of"] = "2025-13"
    doc["models"]["bad@key"] = {**doc["models"]["m"], "openness": "closed"}
    with pytest.raises(CatalogError) as err:
        parse_catalog(doc)
    problems = err.value.problems
    assert "models.bad@key: a key is non-empty text without '@'" in problems
    assert sum("openness: unknown value 'open'" in p for p in problems) == 1
    assert sum("as_of: not a calendar date" in p for p in problems) == 2


def test_a_missing_or_odd_top_level_is_an_error() -> None:
    for doc, message in (
        ([], "expected a mapping at the top, got list"),
        ({"models": _GOOD["models"]}, "as_of: missing"),
        ({"as_of": "2026-01", "models": {}}, "models: expected a mapping"),
        ({**_GOOD, "version": 2}, "version: unknown top-level field"),
        (_with("models.m.offerings", ["p"]), "models.m.offerings: expected a mapping"),
    ):
        with pytest.raises(CatalogError, match=re.escape(message)):
            parse_catalog(doc)


def test_an_unquoted_yaml_date_is_kept_as_text() -> None:
    doc = yaml.safe_load("as_of: 2026-11-30\n" + yaml.safe_dump({"models": _GOOD["models"]}))
    assert isinstance(doc["as_of"], dt.date)
    assert parse_catalog(doc)["m@p"].model_dump()["price"]["as_of"] == "2026-11-30"


def test_the_cli_reports_a_broken_catalog_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import router.catalog as catalog
    from router.cli import main

    monkeypatch.setattr(
        catalog, "load_catalog", lambda: parse_catalog(_with("models.m.openness", "opne"))
    )
    assert main(["models", "--stale"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "models.yaml" in err and "models.m.openness: unknown value 'opne'" in err


def test_superseded_models_keep_their_keys_and_say_so() -> None:
    c = load_catalog()
    assert c["claude-opus-4-1@anthropic"].status == "retired"  # cost-guard.yaml names it
    assert c["claude-sonnet-4-5"].status == "retired"  # quality-tiers.yaml names it
    assert c["gpt-4.1-mini@openai"].status == "deprecated"  # OpenAI notice of 2026-10-14
    assert c["claude-haiku-4-5@anthropic"].status == "active"
    assert {e.status for e in c.values()} <= {"active", "legacy", "deprecated", "retired"}


def test_init_never_suggests_a_deprecated_or_retired_model() -> None:
    from router.onboarding.discover import render

    def model(name: str, output: float, status: str) -> dict[str, Any]:
        return {
            "name": name,
            "family": "f",
            "developer": "D",
            "origin": "US",
            "license": "proprietary",
            "openness": "closed",
            "context_window": 1000,
            "status": status,
            "offerings": {
                "openai": {
                    "model": name,
                    "price": {"input": 0, "output": output, "source": "https://p.example/x"},
                }
            },
        }

    cat = parse_catalog(
        {
            "as_of": "2026-12",
            "models": {
                "gone": model("gone-1", 0.01, "retired"),
                "going": model("going-1", 0.02, "deprecated"),
                "older": model("older-1", 0.5, "legacy"),
                "current": model("current-1", 0.9, "active"),
            },
        }
    )
    text = render([], [("openai", "OPENAI_API_KEY")], catalog=cat)
    suggested = yaml.safe_load(text)["models"]
    assert [m["catalog"] for m in suggested.values()] == ["older@openai"]  # cheapest still served
    assert "gone-1" not in text and "going-1" not in text
    # With the bundled catalog: whatever is suggested for each keyed provider is in service,
    # and a provider whose every priced model is deprecated or retired gets no suggestion.
    bundled = load_catalog()
    for kind in ("openai", "anthropic", "gemini", "groq", "mistral", "deepseek"):
        serving = [
            k
            for k, e in bundled.items()
            if k.endswith(f"@{kind}") and e.offering is not None and e.offering.price
            if e.status in ("active", "legacy")
        ]
        if not serving:
            # nothing to suggest: init says which key and why, not "no model on any server"
            with pytest.raises(ConfigError, match=f"KEY \\({kind}\\) is set.*deprecated"):
                render([], [(kind, "KEY")], catalog=bundled)
            continue
        doc = yaml.safe_load(render([], [(kind, "KEY")], catalog=bundled))
        suggested = [m["catalog"] for m in (doc.get("models") or {}).values()]
        assert suggested and set(suggested) <= set(serving), (kind, suggested)
