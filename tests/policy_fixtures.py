"""Helpers for the policy tests: small configs and requests built from data."""

from __future__ import annotations

from typing import Any

from router.config import load_dict
from router.config.schema import Config
from router.policy import Policy
from router.types import ChatRequest

__all__ = ["base_config", "config", "msg", "policy", "request"]


def base_config() -> dict[str, Any]:
    """Four targets: two local, one hosted (zero retention, eu), one frontier."""
    return {
        "providers": {
            "box": {"kind": "vllm", "base_url": "http://127.0.0.1:1/v1", "zone": "local"},
            "host": {
                "kind": "together",
                "api_key": "k",
                "region": "eu",
                "data_retention": "zero",
            },
            "oa": {"kind": "openai", "api_key": "k", "region": "us"},
        },
        "models": {
            "small": {
                "provider": "box",
                "model": "small-model",
                "quality": {"default": 50, "code": 40},
                "context_window": 4096,
                "capabilities": ["streaming"],
                "license": "apache-2.0",
                "openness": "fully_open",
            },
            "big": {
                "provider": "box",
                "model": "big-model",
                "quality": 75,
                "capabilities": ["tools", "streaming"],
                "license": "llama3.3-community",
                "openness": "open_weights_restricted",
            },
            "hosted": {
                "provider": "host",
                "model": "hosted-model",
                "quality": 80,
                "price": {"input": 1.0, "output": 1.0},
                "license": "mit",
                "openness": "open_weights_permissive",
                "origin": "CN",
            },
            "gpt": {
                "provider": "oa",
                "model": "gpt-x",
                "quality": {"default": 90, "code": 95},
                "price": {"input": 2.0, "output": 8.0},
                "license": "proprietary",
                "openness": "closed",
                "origin": "US",
            },
        },
        "routes": {"default": {"candidates": ["gpt", "hosted", "big", "small"]}},
    }


def config(**sections: Any) -> Config:
    """``base_config()`` with sections replaced (e.g. ``rules=[...]``)."""
    data = base_config()
    data.update(sections)
    return load_dict(data)


def policy(**sections: Any) -> Policy:
    """A compiled :class:`Policy` over ``config(**sections)``."""
    return Policy(config(**sections))


def msg(text: str, role: str = "user") -> dict[str, Any]:
    """One message."""
    return {"role": role, "content": text}


def request(*texts: str, **params: Any) -> ChatRequest:
    """A request with one user message per text (default: a harmless one)."""
    messages = [msg(t) for t in texts] or [msg("What is the capital of France?")]
    return ChatRequest.model_validate({"messages": messages, **params})
