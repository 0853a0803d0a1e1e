"""Every native kind is registered, imports lazily, and names itself as the config does."""

from __future__ import annotations

import pytest

from router.providers import NATIVE_KINDS, adapter_for
from router.targets import NATIVE_DEFAULTS

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
    assert adapter.provider_name == TELEMETRY[kind] == NATIVE_DEFAULTS[kind].provider_name


def test_every_native_kind_but_embedded_has_an_adapter() -> None:
    assert set(NATIVE_KINDS) == set(NATIVE_DEFAULTS) - {"embedded"}


def test_each_call_gets_a_fresh_decoder() -> None:
    a = adapter_for("anthropic")
    assert a.stream_decoder() is not a.stream_decoder()
