"""Sans-IO adapters, one per wire protocol, and the presets for OpenAI-compatible servers."""

from __future__ import annotations

from importlib import import_module

from .base import Adapter, Endpoint, HttpRequest, StreamDecoder
from .presets import PRESETS, Preset, Quirks

__all__ = [
    "NATIVE_KINDS",
    "PRESETS",
    "Adapter",
    "Endpoint",
    "HttpRequest",
    "Preset",
    "Quirks",
    "StreamDecoder",
    "adapter_for",
]

# Native wire protocols: kind -> (module, class). Imported on first use so a
# router that only talks to OpenAI-compatible servers never loads the others.
NATIVE_KINDS: dict[str, tuple[str, str]] = {
    "anthropic": (".anthropic", "AnthropicAdapter"),
    "gemini": (".gemini", "GeminiAdapter"),
    "ollama": (".ollama", "OllamaAdapter"),
    "azure_openai": (".azure_openai", "AzureOpenAIAdapter"),
}


def adapter_for(kind: str, provider_name: str | None = None) -> Adapter:
    """The adapter for a provider ``kind`` (a native protocol or a preset name)."""
    if kind in NATIVE_KINDS:
        module, cls = NATIVE_KINDS[kind]
        adapter: Adapter = getattr(import_module(module, __name__), cls)()
        return adapter
    preset = PRESETS.get(kind)
    if preset is None:
        raise KeyError(kind)
    from .openai_compatible import OpenAICompatibleAdapter

    return OpenAICompatibleAdapter(provider_name or preset.provider_name)
