"""``llm-router init`` and ``llm-router doctor`` against fake local servers.

Every fake binds 127.0.0.1 on a free port; discovery's port table is pointed
at them, so nothing but loopback is ever contacted. One test runs doctor
against the real llama-cpp-python server (tests/conftest.py's fixture).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from router.cli import main
from router.config.loader import load_dict, load_policy
from router.onboarding.discover import (
    Found,
    LocalPort,
    catalog_key,
    discover_local,
    keyed_providers,
    render,
)
from router.onboarding.doctor import doctor, exit_status, judge, probe_for
from router.providers.presets import NATIVE, PRESETS
from router.targets import resolve_targets
from tests.conftest import free_port

SECRET = "sk-test-do-not-print-0123456789"
KEY_VARS = sorted(
    {p.api_key_env for p in PRESETS.values() if p.api_key_env}
    | {n.api_key_env for n in NATIVE.values() if n.api_key_env}
)


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


class Fake:
    """A list-models server: ``routes`` maps a path to (status, JSON body);
    ``key`` (if set) must come as a bearer token, x-api-key or x-goog-api-key."""

    def __init__(self, routes: dict[str, Any], key: str | None = None, delay: float = 0) -> None:
        self.routes, self.key, self.delay = routes, key, delay
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(fake.delay)
                path = self.path.split("?", 1)[0]
                got = (
                    (self.headers.get("authorization") or "").removeprefix("Bearer ")
                    or self.headers.get("x-api-key")
                    or self.headers.get("x-goog-api-key")
                )
                if path not in fake.routes:
                    status, body = 404, {"error": "not found"}
                elif fake.key is not None and got != fake.key:
                    status, body = 401, {"error": {"message": f"bad key {got}"}}
                else:
                    status, body = 200, fake.routes[path]
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (slow case)

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[Callable[..., Fake]]:
    made: list[Fake] = []

    def make(routes: dict[str, Any], key: str | None = None, delay: float = 0) -> Fake:
        f = Fake(routes, key, delay)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def openai_models(*ids: str, owner: str = "vllm") -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "owned_by": owner} for i in ids],
    }


def ollama_tags(*names: str) -> dict[str, Any]:
    return {"models": [{"name": n, "model": n} for n in names]}


# --- discovery ---------------------------------------------------------------


def test_discover_finds_each_kind_and_skips_closed_ports(fake: Callable[..., Fake]) -> None:
    ollama = fake({"/api/tags": ollama_tags("llama3.2:3b", "smollm2:latest")})
    vllm = fake({"/v1/models": openai_models("meta-llama/Llama-3.1-8B-Instruct")})
    lcpp = fake({"/v1/models": openai_models("smollm2", owner="me")})
    llamacpp = fake({"/v1/models": openai_models("qwen3-8b.gguf", owner="llamacpp")})
    ports = [
        LocalPort("ollama", ollama.port, "/api/tags", "Ollama"),
        LocalPort("vllm", vllm.port, "/v1/models", "vLLM"),
        LocalPort("vllm", lcpp.port, "/v1/models", "vLLM"),
        LocalPort("llamacpp_server", llamacpp.port, "/v1/models", "llama.cpp"),
        LocalPort("lmstudio", free_port(), "/v1/models", "LM Studio"),  # nothing listens
    ]
    found = discover_local(ports)
    assert [(f.kind, f.models) for f in found] == [
        ("ollama", ("llama3.2:3b", "smollm2:latest")),
        ("vllm", ("meta-llama/Llama-3.1-8B-Instruct",)),
        ("llama_cpp_python", ("smollm2",)),
        ("llamacpp_server", ("qwen3-8b.gguf",)),
    ]
    assert found[0].base_url == ollama.url and found[1].base_url == vllm.url + "/v1"


def test_discover_only_contacts_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        discover_local([LocalPort("vllm", 8000, "/v1/models", "vLLM")], host="10.0.0.1")


def test_keyed_providers_and_catalog_matching() -> None:
    env = {"OPENAI_API_KEY": SECRET, "GROQ_API_KEY": "g" * 20, "VLLM_API_KEY": "local"}
    assert keyed_providers(env) == [("groq", "GROQ_API_KEY"), ("openai", "OPENAI_API_KEY")]
    assert catalog_key("llama3.2:3b", "ollama") == "llama-3.2-3b"
    assert catalog_key("meta-llama/Llama-3.1-8B-Instruct", "vllm") == "llama-3.1-8b"
    assert catalog_key("gpt-4.1-mini", "openai") == "gpt-4.1-mini@openai"
    assert catalog_key("no-such-model") is None


def test_render_local_first_and_valid() -> None:
    text = render(
        [Found("ollama", "http://127.0.0.1:11434", ("llama3.2:3b",), "Ollama")],
        [("anthropic", "ANTHROPIC_API_KEY")],
    )
    assert "${ANTHROPIC_API_KEY}" in text and "confidential-stays-home" in text
    assert "licence llama3.2-community" in text
    import yaml

    data = yaml.safe_load(text)
    data["providers"]["anthropic"]["api_key"] = "x" * 20  # what ${VAR} becomes
    config = load_dict(data)
    cands = config.routes["default"].candidates
    assert cands[0] == "llama3.2-3b" and config.models[cands[-1]].provider == "anthropic"


# --- init ------------------------------------------------------------------------


def _point_init_at(monkeypatch: pytest.MonkeyPatch, ports: list[LocalPort]) -> None:
    from router.onboarding import discover

    monkeypatch.setattr(discover, "DEFAULT_PORTS", tuple(ports))


def test_init_writes_a_valid_config_with_var_references_only(
    fake: Callable[..., Fake],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ollama = fake({"/api/tags": ollama_tags("llama3.2:3b")})
    _point_init_at(monkeypatch, [LocalPort("ollama", ollama.port, "/api/tags", "Ollama")])
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "router.yaml"
    assert main(["init", "--out", str(out)]) == 0
    text = out.read_text()
    printed = capsys.readouterr()
    assert SECRET not in text and SECRET not in printed.out + printed.err
    assert 'api_key: "${OPENAI_API_KEY}"' in text
    config, _ = load_policy(out)
    assert config.routes["default"].candidates[0] == "llama3.2-3b"
    assert config.providers["ollama"].base_url == ollama.url
    assert [r.name for r in config.rules] == ["confidential-stays-home"]
    assert main(["validate", str(out)]) == 0


def test_init_never_overwrites_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _point_init_at(monkeypatch, [LocalPort("vllm", free_port(), "/v1/models", "vLLM")])
    out = tmp_path / "router.yaml"
    out.write_text("mine\n")
    assert main(["init", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--force" in err
    assert out.read_text() == "mine\n"
    assert main(["init", "--out", str(out), "--force"]) == 0
    assert "embedded" in out.read_text()  # nothing found: the embedded default
    load_policy(out)


def test_init_policy_choice_and_unknown_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _point_init_at(monkeypatch, [])
    out = tmp_path / "r.yaml"
    assert main(["init", "--out", str(out), "--policy", "open-models-only"]) == 0
    config, _ = load_policy(out)
    assert [r.name for r in config.rules] == ["audited-workloads-use-fully-open-models"]
    capsys.readouterr()
    assert main(["init", "--out", str(tmp_path / "n.yaml"), "--policy", "nope"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "unknown policy 'nope'" in err
    assert not (tmp_path / "n.yaml").exists()


# --- doctor ----------------------------------------------------------------------


def _write(tmp_path: Path, doc: dict[str, Any]) -> str:
    p = tmp_path / "c.yaml"
    p.write_text(json.dumps(doc))  # JSON is YAML
    return str(p)


def _openai_config(url: str, model: str = "m1") -> dict[str, Any]:
    return {
        "providers": {"box": {"kind": "openai", "base_url": url, "api_key": "${OPENAI_API_KEY}"}},
        "models": {"gpt": {"provider": "box", "model": model}},
        "routes": {"default": {"candidates": ["gpt"]}},
    }


def _doctor(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["doctor", *argv])
    got = capsys.readouterr()
    assert SECRET not in got.out + got.err
    return status, got.out


def test_doctor_good_key_and_json_shape(
    fake: Callable[..., Fake],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = fake({"/v1/models": openai_models("m1", "m2")}, key=SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    path = _write(tmp_path, _openai_config(srv.url + "/v1"))
    status, out = _doctor([path, "--json"], capsys)
    assert status == 0
    doc = json.loads(out)
    assert doc["ok"] is True
    assert {tuple(sorted(c)) for c in doc["checks"]} == {
        ("check", "latency_ms", "message", "required", "status", "subject")
    }
    by = {(c["subject"], c["check"]): c for c in doc["checks"]}
    assert by[("box", "reachable")]["latency_ms"] >= 0
    assert by[("box", "key")]["message"] == "OPENAI_API_KEY accepted"
    assert by[("box/m1", "model")]["status"] == "ok"
    assert by[("state", "store")]["status"] == "ok"


def test_doctor_wrong_key_names_the_variable_never_the_value(
    fake: Callable[..., Fake],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = fake({"/v1/models": openai_models("m1")}, key="the-right-key-000")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    status, out = _doctor([_write(tmp_path, _openai_config(srv.url + "/v1"))], capsys)
    assert status == 1
    assert "FAIL box key: OPENAI_API_KEY is set but the provider rejected it (401)" in out


def test_doctor_missing_model(
    fake: Callable[..., Fake],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = fake({"/v1/models": openai_models("m1")})
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    status, out = _doctor([_write(tmp_path, _openai_config(srv.url + "/v1", "m9"))], capsys)
    assert status == 1
    assert "FAIL box/m9 model: m9 is not served by box (it lists: m1)" in out


def test_doctor_ollama_missing_model_says_pull(
    fake: Callable[..., Fake], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake({"/api/tags": ollama_tags("qwen3:8b", "llama3.2:latest")})
    doc = {
        "providers": {"ollama": {"kind": "ollama", "base_url": srv.url}},
        "models": {
            "a": {"provider": "ollama", "model": "llama3.1:8b"},
            "b": {"provider": "ollama", "model": "llama3.2"},  # :latest implied
        },
        "routes": {"default": {"candidates": ["a", "b"]}},
    }
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert status == 1
    assert "llama3.1:8b is not pulled on ollama: ollama pull llama3.1:8b" in out
    assert "ok   ollama/llama3.2 model" in out


def test_doctor_unreachable_local_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    doc = {
        "providers": {"gpu": {"kind": "vllm", "base_url": f"http://127.0.0.1:{port}/v1"}},
        "models": {"m": {"provider": "gpu", "model": "x"}},
        "routes": {"default": {"candidates": ["m"]}},
    }
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert status == 1
    assert f"connection refused: is vLLM running on 127.0.0.1:{port}?" in out


def test_doctor_slow_server_times_out(
    fake: Callable[..., Fake], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake({"/v1/models": openai_models("x")}, delay=2.0)
    doc = {
        "providers": {"gpu": {"kind": "vllm", "base_url": srv.url + "/v1"}},
        "models": {"m": {"provider": "gpu", "model": "x"}},
        "routes": {"default": {"candidates": ["m"]}},
    }
    start = time.monotonic()
    status, out = _doctor([_write(tmp_path, doc), "--timeout", "0.3"], capsys)
    assert time.monotonic() - start < 1.8
    assert status == 1 and "no answer from 127.0.0.1" in out and "ReadTimeout" in out


def test_doctor_anthropic_and_gemini_list_models(
    fake: Callable[..., Fake],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ant = fake({"/v1/models": {"data": [{"id": "claude-haiku-4-5"}]}}, key=SECRET)
    gem = fake({"/v1beta/models": {"models": [{"name": "models/gemini-2.5-flash"}]}}, key=SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-gemini-key-000")
    doc = {
        "providers": {
            "ant": {"kind": "anthropic", "base_url": ant.url},
            "gem": {"kind": "gemini", "base_url": gem.url},
        },
        "models": {
            "haiku": {"provider": "ant", "model": "claude-haiku-4-5"},
            "flash": {"provider": "gem", "model": "gemini-2.5-flash"},
        },
        "routes": {"default": {"candidates": ["haiku"]}, "g": {"candidates": ["flash"]}},
    }
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert "ok   ant/claude-haiku-4-5 model" in out
    assert "ANTHROPIC_API_KEY accepted" in out
    assert "GEMINI_API_KEY is set but the provider rejected it (401)" in out
    assert "wrong-gemini-key-000" not in out
    assert status == 1
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert status == 0 and "ok   gem/gemini-2.5-flash model" in out


def test_doctor_unset_key_and_unused_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Broken, but no route needs it: a warning, exit 0.
    doc = {
        "providers": {
            "box": {"kind": "vllm", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
            "groq": {"kind": "groq", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
        },
        "models": {"m": {"provider": "box", "model": "x"}, "g": {"provider": "groq", "model": "y"}},
        "routes": {"default": {"candidates": ["g"]}},
    }
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert "warn box reachable: connection refused" in out
    assert "FAIL groq key: GROQ_API_KEY is not set" in out
    assert status == 1
    doc["routes"] = {"default": {"candidates": ["m"]}}
    doc["models"] = {"m": doc["models"]["m"]}
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert status == 1  # box is needed now
    assert "skip groq models: no model uses this provider" in out


def test_doctor_state_store_and_audit_log(
    fake: Callable[..., Fake], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake({"/v1/models": openai_models("x")})
    doc: dict[str, Any] = {
        "providers": {"gpu": {"kind": "vllm", "base_url": srv.url + "/v1"}},
        "models": {"m": {"provider": "gpu", "model": "x"}},
        "routes": {"default": {"candidates": ["m"]}},
        "state": f"sqlite:///{tmp_path}/state.db",
        "telemetry": {"audit_log": str(tmp_path / "audit.jsonl")},
    }
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert status == 0, out
    assert "ok   state store:" in out and "ok   audit_log writable:" in out
    doc["telemetry"] = {"audit_log": str(tmp_path / "no" / "such" / "audit.jsonl")}
    status, out = _doctor([_write(tmp_path, doc)], capsys)
    assert status == 1 and "FAIL audit_log writable" in out
    assert not (tmp_path / "no").exists()  # doctor creates nothing


def test_doctor_api_is_sans_cli(fake: Callable[..., Fake]) -> None:
    srv = fake({"/v1/models": openai_models("x")})
    config = load_dict(
        {
            "providers": {"gpu": {"kind": "vllm", "base_url": srv.url + "/v1"}},
            "models": {"m": {"provider": "gpu", "model": "x"}},
            "routes": {"default": {"candidates": ["m"]}},
        }
    )
    checks = doctor(config)
    assert exit_status(checks) == 0
    assert [c.check for c in checks] == ["reachable", "model", "store"]
    # Sans-IO halves: the request, and what an answer means.
    t = resolve_targets(config)["m"]
    probe = probe_for(t)
    assert probe is not None and probe.url == srv.url + "/v1/models"
    verdicts = judge("gpu", [t], 200, openai_models("y"), key_name=None, required={"m"})
    assert [(c.check, c.status) for c in verdicts] == [("model", "fail")]


@pytest.mark.parametrize(
    "argv",
    [["doctor"], ["doctor", "{missing}"], ["doctor", "{cfg}", "--timeout", "x"], ["init", "--x"]],
)
def test_doctor_and_init_misuse_is_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write(tmp_path, _openai_config("http://127.0.0.1:1/v1"))
    filled = [
        a.replace("{missing}", str(tmp_path / "nope.yaml")).replace("{cfg}", cfg) for a in argv
    ]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.real_server
def test_doctor_against_the_real_llama_cpp_python_server(
    llama_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {
        "providers": {"llama": {"kind": "llama_cpp_python", "base_url": llama_server}},
        "models": {
            "smol": {"provider": "llama", "model": "smollm2"},
            "other": {"provider": "llama", "model": "not-loaded"},
        },
        "routes": {"default": {"candidates": ["smol"]}},
    }
    status, out = _doctor([_write(tmp_path, doc), "--json"], capsys)
    checks = {(c["subject"], c["check"]): c for c in json.loads(out)["checks"]}
    assert status == 0
    assert checks[("llama", "reachable")]["status"] == "ok"
    assert checks[("llama/smollm2", "model")]["status"] == "ok"
    # Not in any route: reported, but does not fail the run.
    assert checks[("llama/not-loaded", "model")]["status"] == "warn"
