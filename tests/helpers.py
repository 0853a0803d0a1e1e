"""Small builders shared by the foundation tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "http://127.0.0.1:8999/v1"
KEY = "sk-test-0123456789abcdefSECRET"


def fixture_text(name: str) -> str:
    """A recorded wire fixture as text."""
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> Any:
    """A recorded wire fixture parsed as JSON."""
    return json.loads(fixture_text(name))


def one_target_config(kind: str = "vllm", base_url: str = BASE, **provider: Any) -> dict[str, Any]:
    """A config with one OpenAI-compatible target behind the ``default`` route."""
    return {
        "providers": {"p": {"kind": kind, "base_url": base_url, "api_key": KEY, **provider}},
        "models": {
            "m": {"provider": "p", "model": "served-model", "price": {"input": 1.0, "output": 2.0}}
        },
        "routes": {"default": {"candidates": ["m"]}},
    }


def two_target_config(
    base_a: str = BASE, base_b: str = "http://127.0.0.1:8998/v1"
) -> dict[str, Any]:
    """Two targets, ``a`` first, fallback to ``b``."""
    return {
        "providers": {
            "pa": {"kind": "vllm", "base_url": base_a, "api_key": KEY},
            "pb": {"kind": "llamacpp_server", "base_url": base_b},
        },
        "models": {"a": {"provider": "pa", "model": "ma"}, "b": {"provider": "pb", "model": "mb"}},
        "routes": {"default": {"candidates": ["a", "b"]}},
    }


USER = [{"role": "user", "content": "What is the capital of France?"}]
