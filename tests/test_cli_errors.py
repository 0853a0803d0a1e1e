"""Every misuse of ``llm-router`` ends in one line on stderr and exit status 2.

Each case is run in-process (an uncaught exception fails the test); a few
run as a real process too, to see what a user sees.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from router.cli import main

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
providers:
  box: {kind: vllm, base_url: "http://127.0.0.1:1/v1"}
  oa: {kind: openai, api_key: k}
models:
  local: {provider: box, model: m, quality: 60}
  gpt: {provider: oa, model: gpt-4.1, quality: 90}
routes:
  default: {candidates: [gpt, local]}
"""

BROKEN = GOOD.replace("kind: vllm", "kind: vlm").replace(
    "routes:", "rules:\n  - name: r\n    allow: {openness: [nope]}\nroutes:"
)

# Chat cases must fail before sending; if one did not, it would only reach a closed port.
LOCAL = """\
providers:
  box: {kind: vllm, base_url: "http://127.0.0.1:1/v1"}
models:
  local: {provider: box, model: m}
routes:
  default: {candidates: [local]}
"""

CASE = """\
tests:
  - name: one
    message: hi
    expect: {target: gpt}
"""


FILES: dict[str, str | bytes] = {
    "good.yaml": GOOD,
    "local.yaml": LOCAL,
    "broken.yaml": BROKEN,
    "binary.bin": b"\x00\xff\xfe\x01\x80binary",
    "bad.json": "{bad json",
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "list.json": "[1, 2]",
    "messages-str.json": '{"messages": "hi"}',
    "context-list.json": '{"messages": [{"role": "user", "content": "x"}], "context": [1]}',
    "context-bad.json": (
        '{"messages": [{"role": "user", "content": "x"}], "context": {"max_cost_usd": -1}}'
    ),
    "model-num.json": '{"messages": [{"role": "user", "content": "x"}], "model": 7}',
    "cases.yaml": CASE,
    "case-bad-now.yaml": CASE + "    snapshot: {now: soon}\n",
    "case-bad-excluded.yaml": CASE.replace("{target: gpt}", "{excluded: [gpt]}"),
    "case-bad-plan.yaml": CASE.replace("{target: gpt}", "{not_planned: 3}"),
    "case-tag.yaml": "tests: !!python/object/apply:os.system ['echo hi']\n",
    "no-cases.yaml": "tests: []\n",
    "ledger-list.jsonl": "[1]\n",
    "empty.jsonl": "",
    "ledger-types.jsonl": '{"ts": "yesterday", "route": "r", "target": "t"}\n',
    "ledger-cost.jsonl": '{"ts": 1.0, "route": "r", "target": "t", "cost_usd": "lots"}\n',
    "ledger-deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
}

# (id, argv); "{x}" is replaced by the path of FILES[x], "{missing}" by a path that does not exist.
CASES: list[tuple[str, list[str]]] = [
    # top level
    ("no-command", []),
    ("unknown-command", ["nosuch"]),
    ("unknown-option", ["validate", "{good.yaml}", "--nope"]),
    # explain
    ("explain-no-source", ["explain", "{good.yaml}"]),
    ("explain-both-sources", ["explain", "{good.yaml}", "--message", "x", "--file", "{bad.json}"]),
    ("explain-malformed-json", ["explain", "{good.yaml}", "--file", "{bad.json}"]),
    ("explain-deep-json", ["explain", "{good.yaml}", "--file", "{deep.json}"]),
    ("explain-json-not-object", ["explain", "{good.yaml}", "--file", "{list.json}"]),
    ("explain-messages-not-list", ["explain", "{good.yaml}", "--file", "{messages-str.json}"]),
    ("explain-context-not-mapping", ["explain", "{good.yaml}", "--file", "{context-list.json}"]),
    ("explain-context-invalid", ["explain", "{good.yaml}", "--file", "{context-bad.json}"]),
    ("explain-model-not-string", ["explain", "{good.yaml}", "--file", "{model-num.json}"]),
    ("explain-binary-file", ["explain", "{good.yaml}", "--file", "{binary.bin}"]),
    ("explain-missing-file", ["explain", "{good.yaml}", "--file", "{missing}"]),
    ("explain-directory-file", ["explain", "{good.yaml}", "--file", "{dir}"]),
    ("explain-max-cost-negative", ["explain", "{good.yaml}", "--message", "x", "--max-cost", "-5"]),
    ("explain-max-cost-nan", ["explain", "{good.yaml}", "--message", "x", "--max-cost", "nan"]),
    ("explain-max-cost-text", ["explain", "{good.yaml}", "--message", "x", "--max-cost", "lots"]),
    (
        "explain-min-quality-neg",
        ["explain", "{good.yaml}", "--message", "x", "--min-quality", "-1"],
    ),
    (
        "explain-min-quality-big",
        ["explain", "{good.yaml}", "--message", "x", "--min-quality", "101"],
    ),
    ("explain-max-tokens-zero", ["explain", "{good.yaml}", "--message", "x", "--max-tokens", "0"]),
    ("explain-max-tokens-neg", ["explain", "{good.yaml}", "--message", "x", "--max-tokens", "-3"]),
    ("explain-meta-no-equals", ["explain", "{good.yaml}", "--message", "x", "--meta", "foo"]),
    ("explain-meta-no-key", ["explain", "{good.yaml}", "--message", "x", "--meta", "=v"]),
    ("explain-bad-sensitivity", ["explain", "{good.yaml}", "--message", "x", "--sensitivity", "z"]),
    ("explain-unknown-model", ["explain", "{good.yaml}", "--message", "x", "--model", "nope"]),
    ("explain-missing-config", ["explain", "{missing}", "--message", "x"]),
    ("explain-binary-config", ["explain", "{binary.bin}", "--message", "x"]),
    ("explain-broken-config", ["explain", "{broken.yaml}", "--message", "x"]),
    # test
    ("test-missing-tests", ["test", "{good.yaml}", "{missing}"]),
    ("test-binary-tests", ["test", "{good.yaml}", "{binary.bin}"]),
    ("test-directory-tests", ["test", "{good.yaml}", "{dir}"]),
    ("test-no-cases", ["test", "{good.yaml}", "{no-cases.yaml}"]),
    ("test-case-bad-now", ["test", "{good.yaml}", "{case-bad-now.yaml}"]),
    ("test-case-bad-excluded", ["test", "{good.yaml}", "{case-bad-excluded.yaml}"]),
    ("test-case-bad-plan", ["test", "{good.yaml}", "{case-bad-plan.yaml}"]),
    ("test-tests-tag", ["test", "{good.yaml}", "{case-tag.yaml}"]),
    ("test-missing-config", ["test", "{missing}", "{cases.yaml}"]),
    ("test-binary-config", ["test", "{binary.bin}", "{cases.yaml}"]),
    ("test-broken-config", ["test", "{broken.yaml}", "{cases.yaml}"]),
    ("test-no-tests-arg", ["test", "{good.yaml}"]),
    # validate: a config it cannot read at all is a misuse (1 means "the config has errors")
    ("validate-missing", ["validate", "{missing}"]),
    ("validate-directory", ["validate", "{dir}"]),
    # models
    ("models-missing-config", ["models", "--config", "{missing}"]),
    ("models-binary-config", ["models", "--config", "{binary.bin}"]),
    ("models-broken-config", ["models", "--config", "{broken.yaml}"]),
    # report
    ("report-no-source", ["report"]),
    ("report-binary-jsonl", ["report", "--jsonl", "{binary.bin}"]),
    ("report-missing-jsonl", ["report", "--jsonl", "{missing}"]),
    ("report-directory-jsonl", ["report", "--jsonl", "{dir}"]),
    ("report-not-a-record", ["report", "--jsonl", "{ledger-list.jsonl}"]),
    ("report-bad-ts", ["report", "--jsonl", "{ledger-types.jsonl}"]),
    ("report-bad-cost", ["report", "--jsonl", "{ledger-cost.jsonl}"]),
    ("report-deep-json", ["report", "--jsonl", "{ledger-deep.jsonl}"]),
    ("report-bad-since", ["report", "--jsonl", "{empty.jsonl}", "--since", "2024-13-01"]),
    ("report-bad-until", ["report", "--jsonl", "{empty.jsonl}", "--until", "soon"]),
    ("report-days-zero", ["report", "--jsonl", "{empty.jsonl}", "--days", "0"]),
    ("report-by-empty", ["report", "--jsonl", "{empty.jsonl}", "--by", ","]),
    ("report-by-unknown", ["report", "--jsonl", "{ledger-list.jsonl}", "--by", "colour"]),
    ("report-state-memory", ["report", "--state", "memory"]),
    ("report-state-bogus", ["report", "--state", "bogus://x"]),
    ("report-missing-config", ["report", "--config", "{missing}"]),
    ("report-state-unusable", ["report", "--state", "sqlite:///{binary.bin}/x.db"]),
    # chat (each fails before anything is sent)
    ("chat-max-tokens-zero", ["chat", "hi", "--config", "{local.yaml}", "--max-tokens", "0"]),
    ("chat-temperature-nan", ["chat", "hi", "--config", "{local.yaml}", "--temperature", "nan"]),
    ("chat-temperature-big", ["chat", "hi", "--config", "{local.yaml}", "--temperature", "9"]),
    ("chat-missing-config", ["chat", "hi", "--config", "{missing}"]),
    ("chat-binary-config", ["chat", "hi", "--config", "{binary.bin}"]),
    ("chat-broken-config", ["chat", "hi", "--config", "{broken.yaml}"]),
    ("chat-unknown-model", ["chat", "hi", "--config", "{local.yaml}", "--model", "nope"]),
    ("chat-bad-sensitivity", ["chat", "hi", "--config", "{local.yaml}", "--sensitivity", "z"]),
    # migration
    ("migration-no-action", ["migration"]),
    ("migration-missing-config", ["migration", "status", "{missing}"]),
    ("migration-binary-config", ["migration", "report", "{binary.bin}"]),
    ("migration-bad-at", ["migration", "status", "{good.yaml}", "--at", "someday"]),
    ("migration-unknown-route", ["migration", "resume", "{good.yaml}", "--route", "nope"]),
    ("migration-no-guard", ["migration", "resume", "{good.yaml}", "--route", "default"]),
    ("migration-binary-shadow-log", ["migration", "report", "{shadow.yaml}"]),
    # audit (its own module only loads the config through the shared path)
    ("audit-missing-config", ["audit", "verify", "{missing}", "--config", "{missing}"]),
    ("audit-binary-config", ["audit", "verify", "{missing}", "--config", "{binary.bin}"]),
]


@pytest.fixture
def files(tmp_path: Path) -> Callable[[list[str]], list[str]]:
    paths = {}
    for name, content in FILES.items():
        p = tmp_path / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        paths[name] = str(p)
    paths["missing"] = str(tmp_path / "does-not-exist.yaml")
    paths["dir"] = str(tmp_path)

    # A config whose shadow log is a binary file.
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(
        GOOD.replace(
            "{candidates: [gpt, local]}",
            "{candidates: [local], shadow: {model: gpt, sample_pct: 5, log: "
            + json.dumps(paths["binary.bin"])
            + "}}",
        ),
        encoding="utf-8",
    )
    paths["shadow.yaml"] = str(shadow)

    def fill(argv: list[str]) -> list[str]:
        return [re.sub(r"\{([^{}]+)\}", lambda m: paths.get(m[1], m[0]), a) for a in argv]

    return fill


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse; main should not let it out, but count it right
        return e.code if isinstance(e.code, int) else 2


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[c[0] for c in CASES])
def test_misuse_is_one_line_and_status_2(
    name: str,
    argv: list[str],
    files: Callable[[list[str]], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = run(files(argv))
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.strip(), "an error must say what went wrong"


def test_chat_max_tokens_zero_is_refused_before_sending(
    files: Callable[[list[str]], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(files(["chat", "hi", "--config", "{local.yaml}", "--max-tokens", "0"])) == 2
    assert "argument --max-tokens: must be greater than 0" in capsys.readouterr().err


def test_main_returns_the_status_of_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--help"]) == 0
    assert "usage" in capsys.readouterr().out
    assert main(["--bogus"]) == 2


def test_a_config_with_many_problems_is_one_line_naming_the_first(
    files: Callable[[list[str]], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = files(["explain", "{broken.yaml}", "--message", "x"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {argv[1]}:2: providers.box.kind: unknown provider kind")
    assert "1 more" in err and "llm-router validate" in err


def test_explain_messages_error_names_the_field(
    files: Callable[[list[str]], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(files(["explain", "{good.yaml}", "--file", "{messages-str.json}"])) == 2
    err = capsys.readouterr().err
    assert "messages" in err and "list" in err.lower()


def test_explain_malformed_json_names_file_and_line(
    files: Callable[[list[str]], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = files(["explain", "{good.yaml}", "--file", "{bad.json}"])
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {argv[3]}:1: not valid JSON")


def test_good_uses_still_work(
    files: Callable[[list[str]], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(files(["explain", "{good.yaml}", "--message", "x", "--meta", "a=b=c"])) == 0
    assert main(files(["explain", "{good.yaml}", "--message", "x", "--max-cost", "0"])) == 0
    assert main(files(["test", "{good.yaml}", "{cases.yaml}"])) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--jsonl", "{binary.bin}"],
        ["explain", "{good.yaml}", "--file", "{bad.json}"],
        ["explain", "{good.yaml}", "--message", "x", "--max-tokens", "0"],
        ["test", "{good.yaml}", "{missing}"],
        ["validate", "{missing}"],
    ],
)
def test_as_a_process(argv: list[str], files: Callable[[list[str]], list[str]]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "router.cli", *files(argv)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
