"""Config loading: validation, located errors, env interpolation, no code execution."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import ConfigError, Router
from router.config import load_dict, load_file
from router.config.defaults import default_config

GOOD = """\
providers:
  local: {kind: vllm, base_url: "http://127.0.0.1:8000/v1", zone: local}
  openai: {kind: openai, api_key: "${TEST_OPENAI_KEY}"}
models:
  small: {provider: local, model: "${SMALL_MODEL:-Qwen/Qwen3-8B}", context_window: 32768}
  gpt: {provider: openai, model: gpt-4.1}
routes:
  default:
    candidates: [small, gpt]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "router.yaml"
    p.write_text(text)
    return p


def test_valid_file_with_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-abc")
    monkeypatch.delenv("SMALL_MODEL", raising=False)
    cfg = load_file(write(tmp_path, GOOD))
    assert cfg.models["small"].model == "Qwen/Qwen3-8B"
    key = cfg.providers["openai"].api_key
    assert key is not None and key.get_secret_value() == "sk-abc"
    assert "sk-abc" not in repr(cfg) and "sk-abc" not in str(cfg)


def test_missing_env_var_is_named_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_OPENAI_KEY", raising=False)
    with pytest.raises(ConfigError) as ei:
        load_file(write(tmp_path, GOOD))
    e = ei.value
    assert "TEST_OPENAI_KEY" in str(e)
    assert e.line == 3 and e.key == "providers.openai.api_key"
    assert str(e).startswith(f"{tmp_path / 'router.yaml'}:3: ")


def test_unknown_key_names_file_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "k")
    text = GOOD.replace(
        "    candidates: [small, gpt]", "    candidates: [small, gpt]\n    selct: cheapest"
    )
    with pytest.raises(ConfigError) as ei:
        load_file(write(tmp_path, text))
    assert ei.value.key == "routes.default.selct"
    assert ei.value.line == 10
    assert "unknown key" in str(ei.value)


def test_every_problem_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "k")
    text = GOOD.replace("kind: vllm,", "kind: vllm, timeout: {connect_s: -1},").replace(
        "context_window: 32768", "context_window: zero"
    )
    with pytest.raises(ConfigError) as ei:
        load_file(write(tmp_path, text))
    keys = {p.key for p in ei.value.problems}
    assert {"providers.local.timeout.connect_s", "models.small.context_window"} <= keys


def test_dangling_references_are_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "k")
    text = GOOD.replace("candidates: [small, gpt]", "candidates: [small, gtp]")
    with pytest.raises(ConfigError) as ei:
        load_file(write(tmp_path, text))
    assert ei.value.key == "routes.default.candidates.1"
    assert ei.value.line == 9 and "'gtp'" in str(ei.value)


@pytest.mark.parametrize(
    "doc",
    [
        "providers: !!python/object/apply:os.system ['echo pwned']\n",
        "providers: !!python/name:os.system\n",
        "providers: !custom x\n",
    ],
)
def test_yaml_tags_cannot_execute_code(tmp_path: Path, doc: str) -> None:
    with pytest.raises(ConfigError, match="tag"):
        load_file(write(tmp_path, doc))


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ("", "empty"),
        ("providers: [unclosed\n", "invalid YAML"),
        ("- a list\n", "mapping"),
        ("providers: {}\nproviders: {}\n", "duplicate"),
    ],
)
def test_malformed_documents(tmp_path: Path, doc: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_file(write(tmp_path, doc))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_file(tmp_path / "nope.yaml")


def test_unknown_provider_kind_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown provider kind 'vlm'.*vllm"):
        Router.from_dict(
            {
                "providers": {"p": {"kind": "vlm", "base_url": "http://x"}},
                "models": {"m": {"provider": "p", "model": "x"}},
            }
        )


def test_generic_compatible_kind_needs_base_url() -> None:
    with pytest.raises(ConfigError, match="needs a base_url"):
        Router.from_dict(
            {
                "providers": {"p": {"kind": "openai_compatible"}},
                "models": {"m": {"provider": "p", "model": "x"}},
            }
        )


def test_dict_configs_interpolate_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_PORT", "127.0.0.1:9")
    cfg = load_dict(
        {
            "providers": {"p": {"kind": "vllm", "base_url": "http://${HOST_PORT}/v1"}},
            "models": {"m": {"provider": "p", "model": "x"}},
        }
    )
    assert cfg.providers["p"].base_url == "http://127.0.0.1:9/v1"


def test_builtin_default_is_valid_and_local() -> None:
    cfg = load_dict(default_config())
    assert cfg.providers["embedded"].kind == "embedded"
    assert list(cfg.routes["default"].candidates) == ["smollm2"]


def test_sensitivity_levels_are_checked() -> None:
    with pytest.raises(ConfigError, match="default level"):
        load_dict(
            {"providers": {}, "models": {}, "sensitivity": {"levels": ["a", "b"], "default": "c"}}
        )
