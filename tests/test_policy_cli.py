"""``llm-router validate / explain / test / models``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.cli import main

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "no-data-leaves-infra.yaml"
TESTS = ROOT / "policies" / "no-data-leaves-infra.test.yaml"

GOOD = """\
providers:
  box: {kind: vllm, base_url: "http://127.0.0.1:1/v1"}
  oa: {kind: openai, api_key: k}
models:
  local: {provider: box, model: m, quality: 60}
  gpt: {provider: oa, model: gpt-4.1, quality: 90}
rules:
  - name: home
    when: {sensitivity: ">= confidential"}
    allow: {zone: [local]}
routes:
  default: {candidates: [gpt, local]}
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", write(tmp_path, GOOD)]) == 0
    assert "ok (2 models, 1 rules, 1 routes, 0 warning(s))" in capsys.readouterr().out


def test_validate_schema_error_has_file_line_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace("quality: 60", "qualty: 60"))
    assert main(["validate", path]) == 1
    err = capsys.readouterr().err
    assert f"{path}:5" in err and "models.local.qualty" in err


def test_validate_undefined_candidate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD.replace("[gpt, local]", "[gpt, lokal]"))
    assert main(["validate", path]) == 1
    assert "lokal" in capsys.readouterr().err


def test_validate_bad_matcher_names_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace(">= confidential", ">= secret"))
    assert main(["validate", path]) == 1
    err = capsys.readouterr().err
    assert "rule 'home'" in err and "unknown level 'secret'" in err
    assert f"{path}:9: rules.home.when:" in err


LINTY = GOOD.replace(
    "routes:",
    """  - name: never
    when: {sensitivity: "> top-secret"}
    deny: {zone: [frontier]}
  - name: typo
    allow: {zone: [lcoal]}
  - name: cap
    limit: {max_cost_usd: 0.01}
  - name: after-typo
    allow: {zone: [local]}
sensitivity:
  levels: [public, internal, confidential, restricted, secret, top-secret]
routes:""",
)


def test_validate_lint_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, LINTY)
    assert main(["validate", path]) == 0
    err = capsys.readouterr().err
    assert "rules.never: unreachable: sensitivity '> top-secret' can never match" in err
    assert "rules.typo.allow.zone: no model has zone 'lcoal'" in err
    assert "'lcoal' is not in zones" in err
    assert "rules.after-typo: unreachable: rule 'typo' already excludes every target" in err
    assert "models.gpt: no price (zone frontier); cost rules count it as free" in err
    assert "level 'secret' is used by no detector" in err
    assert "routes.default: rule 'typo' (no when) excludes every candidate" in err
    assert main(["validate", "--strict", path]) == 1


def test_explain_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    assert main(["explain", path, "--message", "write to a@example.com", "--tenant", "t"]) == 0
    out = capsys.readouterr().out
    assert "sensitivity=confidential" in out and "excluded: rule home" in out
    assert "a@example.com" not in out
    assert main(["explain", path, "--message", "hi", "--max-cost", "0.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plan"][0]["target"] == "gpt" and data["limits"]["max_cost_usd"] == 0.5
    assert data["denied"] is False


def test_explain_from_file_and_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    req = tmp_path / "req.json"
    req.write_text(
        json.dumps(
            {
                "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 10,
                "context": {"sensitivity": "restricted", "min_quality": 80},
            }
        )
    )
    assert main(["explain", path, "--file", str(req), "--tag", "x"]) == 1
    captured = capsys.readouterr()
    assert "no eligible target" in captured.out and "refused" in captured.err
    assert "quality: 60 < floor 80 (context)" in captured.out


def test_test_command_passes_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(POLICY), str(TESTS)]) == 0
    out = capsys.readouterr().out
    assert "7 passed" in out and "failed" not in out


def test_test_command_reports_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = write(
        tmp_path,
        """\
tests:
  - name: wrong target
    message: hello
    expect: {target: local}
  - name: right
    message: "a@example.com"
    expect: {plan: [local], excluded: {gpt: "allow zone"}}
  - name: not denied
    message: hello
    expect: {denied: true}
  - name: wrong reason
    message: "a@example.com"
    expect: {excluded: {gpt: "deny region"}}
""",
        "t.yaml",
    )
    assert main(["test", write(tmp_path, GOOD), tests, "-v"]) == 1
    out = capsys.readouterr().out
    assert "::right PASSED" in out and "::wrong target FAILED" in out
    assert "E   target: expected 'local', got 'gpt'" in out
    assert "E   expected the request to be denied" in out
    assert "no reason for 'gpt' contains 'deny region'" in out
    assert "3 failed, 1 passed" in out


def test_test_command_rejects_malformed_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tests = write(tmp_path, "tests:\n  - {message: hi, expect: {targett: x}}\n", "t.yaml")
    assert main(["test", write(tmp_path, GOOD), tests]) == 2
    assert "unknown expectation" in capsys.readouterr().err
    odd = write(
        tmp_path,
        "tests:\n  - {message: hi, snapshot: {budget_left: 1}, expect: {denied: false}}\n",
        "s.yaml",
    )
    assert main(["test", write(tmp_path, GOOD), odd]) == 2
    assert "unknown snapshot key(s) ['budget_left']" in capsys.readouterr().err


def test_models_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--openness", "fully_open"]) == 0
    out = capsys.readouterr().out
    assert "olmo-2-7b" in out and "smollm2-135m" in out and "gpt-4.1" not in out
    assert main(["models", "--license", "MIT", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["license"] == "mit" for r in rows)
    assert main(["models", "--zone", "frontier"]) == 0
    out = capsys.readouterr().out
    assert "claude-sonnet-4-5@anthropic" in out and "@together" not in out


def test_models_of_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--config", str(POLICY), "--zone", "local"]) == 0
    out = capsys.readouterr().out
    assert "llama-local" in out and "gpt" not in out.split("\n", 1)[1]
