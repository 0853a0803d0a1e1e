"""Azure OpenAI: addressing, auth and config defaults."""

from __future__ import annotations

from typing import Any

import pytest

from router import Router
from router.config import load_dict
from router.errors import AuthenticationError, ConfigError
from router.providers import Endpoint, adapter_for
from router.targets import resolve_targets
from router.types import ChatRequest

HI = ChatRequest(messages=[{"role": "user", "content": "Hi"}], max_tokens=5)


def cfg(provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {"az": provider},
        "models": {"m": {"provider": "az", "model": "gpt-41-prod"}},
        "routes": {"default": {"candidates": ["m"]}},
    }


def test_deployment_url_version_and_key() -> None:
    ep = Endpoint(base_url="https://res.openai.azure.com/", model_id="gpt 41", api_key="AZKEY")
    http = adapter_for("azure_openai").build_request(ep, HI, stream=False)
    assert http.url == (
        "https://res.openai.azure.com/openai/deployments/gpt%2041/chat/completions"
        "?api-version=2024-10-21"
    )
    assert http.headers["api-key"] == "AZKEY" and "authorization" not in http.headers
    assert adapter_for("azure_openai").provider_name == "azure.ai.openai"


def test_v1_api_has_no_version_parameter() -> None:
    ep = Endpoint(base_url="https://res.openai.azure.com", model_id="d", api_version="v1")
    http = adapter_for("azure_openai").build_request(ep, HI, stream=True)
    assert http.url == "https://res.openai.azure.com/openai/v1/chat/completions"
    assert http.json["model"] == "d" and http.json["stream"] is True


def test_config_defaults_key_env_and_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "from-env")
    t = resolve_targets(load_dict(cfg({"kind": "azure_openai", "base_url": "http://127.0.0.1:9"})))[
        "m"
    ]
    assert t.endpoint.api_key == "from-env" and t.provider_name == "azure.ai.openai"
    http = adapter_for("azure_openai").build_request(t.endpoint, HI, stream=False)
    assert http.json["max_completion_tokens"] == 5 and "max_tokens" not in http.json


def test_base_url_is_required() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        resolve_targets(load_dict(cfg({"kind": "azure_openai"})))


@pytest.mark.parametrize(
    ("kind", "env"),
    [
        ("azure_openai", "AZURE_OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
    ],
)
def test_keyed_kinds_fail_clearly_without_a_key(
    kind: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(env, raising=False)
    with (
        Router(cfg({"kind": kind, "base_url": "http://127.0.0.1:9"})) as r,
        pytest.raises(AuthenticationError, match=env) as exc,
    ):
        r.chat([{"role": "user", "content": "Hi"}])
    assert exc.value.code == "missing_api_key"


def test_ollama_needs_no_key_and_defaults_local() -> None:
    t = resolve_targets(load_dict(cfg({"kind": "ollama"})))["m"]
    assert t.zone == "local" and t.endpoint.api_key is None
    assert not t.endpoint.quirks.requires_key
