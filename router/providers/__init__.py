"""Sans-IO adapters, one per wire protocol, and the presets for OpenAI-compatible servers."""

from __future__ import annotations

from importlib import import_module

from .base import Adapter, Endpoint, HttpRequest, StreamDecoder
from .presets import NATIVE, PRESETS, Native, Preset, Quirks, known_kinds

__all__ = [
    "NATIVE",
    "PRESETS",
    "Adapter",
    "Endpoint",
    "HttpRequest",
    "Native",
    "Preset",
    "Quirks",
    "StreamDecoder",
    "adapter_for",
    "known_kinds",
]


def adapter_for(kind: str, provider_name: str | None = None) -> Adapter:
    """The adapter for a provider ``kind`` (a native protocol or a preset name).

    Native adapters are imported on first use, so a router that only talks to
    OpenAI-compatible servers never loads the others.
    """
    native = NATIVE.get(kind)
    if native is not None:
        if native.adapter is None:
            raise KeyError(kind)  # the embedded engine speaks no wire protocol
        module, cls = native.adapter
        adapter: Adapter = getattr(import_module(module, __name__), cls)()
        return adapter
    preset = PRESETS.get(kind)
    if preset is None:
        raise KeyError(kind)
    from .openai_compatible import OpenAICompatibleAdapter

    return OpenAICompatibleAdapter(provider_name or preset.provider_name)
