"""Every provider kind, described as data: the one registry of kinds.

:data:`PRESETS` are OpenAI-compatible servers: a new one is one entry here
(its default base URL, the environment variable its key is read from, the
zone it defaults to, the name telemetry gives it, its known quirks).
:data:`NATIVE` are the kinds with a wire protocol of their own (and the
in-process ``embedded`` engine): the adapter class that speaks it, and the
same defaults. Config validation, target resolution, adapter lookup and the
CLI all read these two tables; :func:`known_kinds` lists both.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NATIVE", "PRESETS", "Native", "Preset", "Quirks", "known_kinds"]


@dataclass(frozen=True, slots=True)
class Quirks:
    """Differences between OpenAI-compatible servers that the adapter honours."""

    max_tokens_field: str = "max_tokens"
    """``max_completion_tokens`` for OpenAI itself; most servers parse only ``max_tokens``."""
    stream_usage: bool = True
    """Send ``stream_options.include_usage``; servers that reject it get False."""
    tool_choice: bool = True
    """False where the server ignores ``tool_choice`` (the router then omits it)."""
    requires_key: bool = False


@dataclass(frozen=True, slots=True)
class Preset:
    """Defaults for one kind of OpenAI-compatible endpoint."""

    name: str
    base_url: str | None
    api_key_env: str | None
    zone: str
    provider_name: str
    """The ``gen_ai.provider.name`` telemetry reports."""
    quirks: Quirks = Quirks()
    notes: str = ""


_KEYED = Quirks(requires_key=True)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "openai_compatible",
            None,
            None,
            "hosted",
            "openai_compatible",
            notes="any server speaking /v1/chat/completions; base_url required",
        ),
        Preset(
            "openai",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            "frontier",
            "openai",
            Quirks(max_tokens_field="max_completion_tokens", requires_key=True),
            notes="sends max_completion_tokens (o-series reject max_tokens)",
        ),
        Preset(
            "vllm",
            "http://localhost:8000/v1",
            "VLLM_API_KEY",
            "local",
            "vllm",
            notes="extra sampling params pass through via model params",
        ),
        Preset(
            "ollama_openai",
            "http://localhost:11434/v1",
            None,
            "local",
            "ollama",
            Quirks(tool_choice=False),
            notes="Ollama's /v1 endpoint: ignores max_completion_tokens and tool_choice",
        ),
        Preset(
            "llamacpp_server",
            "http://localhost:8080/v1",
            "LLAMACPP_API_KEY",
            "local",
            "llama.cpp",
            notes="may send a usage chunk unasked; tools need --jinja",
        ),
        Preset(
            "llama_cpp_python",
            "http://localhost:8000/v1",
            None,
            "local",
            "llama.cpp",
            notes="llama-cpp-python's server: never sends usage in streams (estimated)",
        ),
        Preset("lmstudio", "http://localhost:1234/v1", None, "local", "lmstudio"),
        Preset("sglang", "http://localhost:30000/v1", "SGLANG_API_KEY", "local", "sglang"),
        Preset(
            "tgi",
            "http://localhost:8080/v1",
            "TGI_API_KEY",
            "local",
            "tgi",
            notes="Text Generation Inference's Messages API",
        ),
        Preset(
            "tensorrt_llm",
            "http://localhost:8000/v1",
            None,
            "local",
            "tensorrt_llm",
            notes="trtllm-serve",
        ),
        Preset(
            "together",
            "https://api.together.xyz/v1",
            "TOGETHER_API_KEY",
            "hosted",
            "together",
            _KEYED,
        ),
        Preset(
            "fireworks",
            "https://api.fireworks.ai/inference/v1",
            "FIREWORKS_API_KEY",
            "hosted",
            "fireworks",
            _KEYED,
        ),
        Preset("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "hosted", "groq", _KEYED),
        Preset(
            "cerebras",
            "https://api.cerebras.ai/v1",
            "CEREBRAS_API_KEY",
            "hosted",
            "cerebras",
            _KEYED,
        ),
        Preset(
            "deepseek",
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
            "hosted",
            "deepseek",
            _KEYED,
        ),
        Preset(
            "mistral",
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            "hosted",
            "mistral_ai",
            _KEYED,
        ),
        Preset(
            "openrouter",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            "hosted",
            "openrouter",
            _KEYED,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Native:
    """A kind with its own wire protocol (or none: the in-process engine)."""

    name: str
    zone: str
    provider_name: str
    """The ``gen_ai.provider.name`` telemetry reports."""
    api_key_env: str | None = None
    quirks: Quirks = Quirks()
    needs_base_url: bool = False
    """No official host to default to (the adapter supplies one otherwise)."""
    adapter: tuple[str, str] | None = None
    """``(module, class)`` of its adapter in ``router.providers``, imported on first
    use; ``None`` for ``embedded``, which runs in process."""


NATIVE: dict[str, Native] = {
    n.name: n
    for n in (
        Native("embedded", "local", "llama.cpp"),
        Native(
            "anthropic",
            "frontier",
            "anthropic",
            "ANTHROPIC_API_KEY",
            _KEYED,
            adapter=(".anthropic", "AnthropicAdapter"),
        ),
        Native(
            "gemini",
            "frontier",
            "gcp.gemini",
            "GEMINI_API_KEY",
            _KEYED,
            adapter=(".gemini", "GeminiAdapter"),
        ),
        Native("ollama", "local", "ollama", adapter=(".ollama", "OllamaAdapter")),
        Native(
            "azure_openai",
            "frontier",
            "azure.ai.openai",
            "AZURE_OPENAI_API_KEY",
            Quirks(max_tokens_field="max_completion_tokens", requires_key=True),
            needs_base_url=True,
            adapter=(".azure_openai", "AzureOpenAIAdapter"),
        ),
    )
}


def known_kinds() -> list[str]:
    """Every provider kind a config may name, sorted."""
    return sorted([*PRESETS, *NATIVE])
