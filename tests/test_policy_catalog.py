"""The bundled catalog: complete, well-formed, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from router.catalog import load_catalog
from router.config.schema import ModelConfig

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
    if e.offering is not None and e.offering.price is not None:
        p = e.offering.price
        assert p["source"].startswith("https://") and p["as_of"]
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
