"""Config loading under hostile or broken input: alias bombs, recursion, tags,
bytes that are not UTF-8, deep nesting; and policy compile problems located
at file:line, all of them at once, the same way ``llm-router validate`` does.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from router import AsyncRouter, ConfigError, Router
from router.cli import main
from router.config import load_file, loader
from router.config.loader import parse_yaml

BASE = """\
providers:
  box: {kind: vllm, base_url: "http://127.0.0.1:1/v1"}
models:
  local: {provider: box, model: m}
routes:
  default: {candidates: [local]}
"""


def write(tmp_path: Path, text: str | bytes, name: str = "router.yaml") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for i in range(levels - 1):
        name = chr(ord("b") + i)
        refs = ",".join(f"*{prev}" for _ in range(9))
        lines.append(f"{name}: &{name} [{refs}]")
        prev = name
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, laughs())
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as ei:
        load_file(path)
    assert time.perf_counter() - t0 < 2.0
    e = ei.value
    assert e.file == str(path) and e.line is not None and 2 <= e.line <= 9
    assert "alias" in e.message and str(loader.MAX_ALIAS_NODES) in e.message
    assert str(e).startswith(f"{path}:{e.line}: ")


@pytest.mark.parametrize(
    ("doc", "line"),
    [
        ("providers: {}\na: &x [1, *x]\n", 2),
        ("providers: {}\nb: &y\n  c: 1\n  d: *y\n", 4),
        ("a: &z\n  - - *z\n", 2),
    ],
)
def test_recursive_alias_is_a_located_config_error(tmp_path: Path, doc: str, line: int) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError, match="recursive") as ei:
        load_file(path)
    assert (ei.value.file, ei.value.line) == (str(path), line)


def test_undefined_alias_is_located(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alias") as ei:
        load_file(write(tmp_path, "providers: {}\nmodels: *nowhere\n"))
    assert ei.value.line == 2


def test_aliases_within_the_cap_still_load(tmp_path: Path) -> None:
    doc = """\
providers:
  box: &box {kind: vllm, base_url: "http://127.0.0.1:1/v1"}
  box2: *box
models:
  a: {provider: box, model: m, capabilities: &caps [tools, json_schema]}
  b: {provider: box2, model: m, capabilities: *caps}
routes:
  default: {candidates: [a, b]}
"""
    cfg = load_file(write(tmp_path, doc))
    assert cfg.providers["box2"].base_url == cfg.providers["box"].base_url
    assert cfg.models["b"].capabilities == cfg.models["a"].capabilities
    data, lines = parse_yaml(doc, "r.yaml")
    # The copy is independent of the anchored original.
    assert data["providers"]["box2"] == data["providers"]["box"]
    assert data["providers"]["box2"] is not data["providers"]["box"]
    assert lines.find(("providers", "box2")) == 3
    assert lines.find(("providers", "box2", "kind")) == 2  # inside the anchored node


def test_a_chain_of_aliases_past_the_cap_is_refused() -> None:
    # Each alias is cheap; together they pass the cap.
    doc = "a: &a [" + ",".join(["1"] * 1000) + "]\nb: [" + ",".join(["*a"] * 200) + "]\n"
    with pytest.raises(ConfigError, match=str(loader.MAX_ALIAS_NODES)) as ei:
        parse_yaml(doc, "r.yaml")
    assert ei.value.line == 2


def test_non_utf8_file_is_a_located_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="UTF-8") as ei:
        load_file(path)
    assert (ei.value.file, ei.value.line) == (str(path), 7)
    assert "0xe9" in ei.value.message


def test_binary_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="UTF-8") as ei:
        load_file(write(tmp_path, b"\x00\xff\xfe\x01binary"))
    assert ei.value.line == 1


def test_control_character_is_located(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="control") as ei:
        load_file(write(tmp_path, "providers: {}\nmodels: \x07\n"))
    assert ei.value.line == 2


@pytest.mark.parametrize(
    ("doc", "line"),
    [
        ("providers: !evil {}\n", 1),
        ("providers: {}\nmodels: !!python/tuple [a, b]\n", 2),
        ("providers: {}\nroutes: !!omap [{a: 1}]\n", 2),
        ("providers: {}\nx: !!set {a, b}\n", 2),
        ("!!map\nproviders: {}\n", 1),
        ("providers:\n  p: {kind: !!str vllm}\n", 2),
        ("providers: {}\nx: ! plain\n", 2),
        ("providers: {}\nx: [1, !!int '2']\n", 2),
        ("providers: {}\n!!str key: 1\n", 2),
        ("providers: {}\nx: !<tag:example.com,2000:app/foo> {}\n", 2),
    ],
)
def test_any_tag_anywhere_is_refused_with_its_line(tmp_path: Path, doc: str, line: int) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError, match="tag") as ei:
        load_file(path)
    assert (ei.value.file, ei.value.line) == (str(path), line)


@pytest.mark.parametrize(
    "doc",
    [
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n",
    ],
)
def test_deep_nesting_is_a_config_error(tmp_path: Path, doc: str) -> None:
    # Ours, or PyYAML's own guard (6.0.4 and newer stop deep flow collections first).
    ours = f"nested more than {loader.MAX_DEPTH}"
    with pytest.raises(ConfigError, match=f"{ours}|exceeded maximum nesting depth") as ei:
        load_file(write(tmp_path, doc))
    assert ei.value.line == 1


def test_nesting_through_an_alias_counts_too() -> None:
    deep = "[" * (loader.MAX_DEPTH - 1) + "]" * (loader.MAX_DEPTH - 1)
    doc = f"a: &d {deep}\nb: [[*d]]\n"
    with pytest.raises(ConfigError, match="nested") as ei:
        parse_yaml(doc, "r.yaml")
    assert ei.value.line == 2


def test_more_than_one_document_is_refused() -> None:
    with pytest.raises(ConfigError, match="one YAML document") as ei:
        parse_yaml("providers: {}\n---\nmodels: {}\n", "r.yaml")
    assert ei.value.line == 2


def test_scalars_keep_their_types_and_env() -> None:
    data, _ = parse_yaml("a: 1\nb: 2.5\nc: true\nd: ~\ne: '1'\nf: x\n", None)
    assert data == {"a": 1, "b": 2.5, "c": True, "d": None, "e": "1", "f": "x"}


# --- policy compile problems: located, and all of them -------------------------

BROKEN = """\
providers:
  box: {kind: vllm, base_url: "http://127.0.0.1:1/v1"}
  odd: {kind: vlm, base_url: "http://x"}
models:
  local: {provider: box, model: m}
  weird: {provider: odd, model: w}
sensitivity:
  detect:
    - {detector: email, level: confidential}
    - {detector: regex, pattern: "([a-z", level: restricted, name: bad}
rules:
  - name: open-only
    allow: {openness: [opne_weights]}
routes:
  default: {candidates: [local]}
  other: {candidates: [weird, local]}
"""

EXPECTED = {
    ("providers.odd.kind", 3, "unknown provider kind 'vlm'"),
    ("sensitivity.detect.1.pattern", 10, "invalid regex"),
    ("rules.open-only.allow.openness", 13, "unknown openness"),
}


def _found(e: ConfigError) -> set[tuple[str | None, int | None, str]]:
    out: set[tuple[str | None, int | None, str]] = set()
    for p in e.problems or [e]:
        for key, _line, needle in EXPECTED:
            if p.key == key and needle in p.message:
                out.add((p.key, p.line, needle))
    return out


def test_router_from_file_locates_every_policy_problem(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    with pytest.raises(ConfigError) as ei:
        Router.from_file(path)
    e = ei.value
    assert _found(e) == EXPECTED
    assert all(p.file == str(path) for p in e.problems)
    assert f"{path}:10: sensitivity.detect.1.pattern: invalid regex" in str(e)
    assert len(e.problems) == 3


def test_async_router_from_file_locates_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        AsyncRouter.from_file(write(tmp_path, BROKEN))
    assert _found(ei.value) == EXPECTED


def test_router_from_dict_reports_every_policy_problem(tmp_path: Path) -> None:
    data, _ = parse_yaml(BROKEN, None)
    with pytest.raises(ConfigError) as ei:
        Router.from_dict(data)
    keys = {p.key for p in ei.value.problems}
    assert keys == {k for k, _, _ in EXPECTED}
    assert all(p.line is None and p.file is None for p in ei.value.problems)


def test_validate_reports_the_same_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BROKEN)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    for key, line, needle in EXPECTED:
        assert f"error: {path}:{line}: {key}: " in err and needle in err
    assert f"{path}: 3 error(s)" in err


def test_problems_in_later_detectors_keep_their_index(tmp_path: Path) -> None:
    doc = BASE + (
        "sensitivity:\n  detect:\n"
        "    - {detector: nope, level: internal}\n"
        "    - {detector: email, level: internal}\n"
        "    - {detector: regex, pattern: '', level: internal}\n"
    )
    with pytest.raises(ConfigError) as ei:
        Router.from_file(write(tmp_path, doc))
    got = {(p.key, p.line) for p in ei.value.problems}
    assert ("sensitivity.detect.0.detector", 9) in got
    assert any(k is not None and k.startswith("sensitivity.detect.2") for k, _ in got)
    assert len(got) == 2


def test_line_of_handles_dotted_names_and_named_rules() -> None:
    doc = """\
providers:
  p: {kind: vllm}
models:
  gpt-4.1:
    provider: p
    model: x
rules:
  - name: a.b
    when: {tenant: t}
"""
    data, lines = parse_yaml(doc, "r.yaml")
    assert loader.line_of("models.gpt-4.1.provider", data, lines) == 5
    assert loader.line_of("rules.a.b.when", data, lines) == 9
    assert loader.line_of("rules.0.when", data, lines) == 9
    assert loader.line_of("routes.nowhere", data, lines) == 1


def test_merge_keys_are_refused_but_the_text_is_not() -> None:
    with pytest.raises(ConfigError, match="merge keys") as ei:
        parse_yaml("a: &b {x: 1}\nc:\n  <<: *b\n", "r.yaml")
    assert ei.value.line == 3
    assert parse_yaml("a: <<\n'<<': 1\n", None)[0] == {"a": "<<", "<<": 1}
