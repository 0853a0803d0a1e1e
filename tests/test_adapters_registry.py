"""Every native kind is registered, imports lazily, and names itself as the config does."""

from __future__ import annotations

import pytest

from router.providers import NATIVE, PRESETS, adapter_for, known_kinds

TELEMETRY = {
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "ollama": "ollama",
    "azure_openai": "azure.ai.openai",
}


@pytest.mark.parametrize("kind", sorted(TELEMETRY))
def test_native_adapter_names_its_provider(kind: str) -> None:
    adapter = adapter_for(kind)
    assert adapter.kind == kind
    assert adapter.provider_name == TELEMETRY[kind] == NATIVE[kind].provider_name


def test_every_native_kind_but_embedded_has_an_adapter() -> None:
    assert {k for k, n in NATIVE.items() if n.adapter} == set(NATIVE) - {"embedded"}
    with pytest.raises(KeyError):
        adapter_for("embedded")


def test_one_registry_of_kinds() -> None:
    # Presets and native kinds never share a name; the config's known list is both.
    assert not set(PRESETS) & set(NATIVE)
    assert known_kinds() == sorted([*PRESETS, *NATIVE])
    import router.targets as targets

    assert not [n for n in vars(targets) if n.startswith("NATIVE_")]


def test_each_call_gets_a_fresh_decoder() -> None:
    a = adapter_for("anthropic")
    assert a.stream_decoder() is not a.stream_decoder()
