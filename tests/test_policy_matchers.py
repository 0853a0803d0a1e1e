"""Matchers: each field and form, and the errors malformed ones raise."""

from __future__ import annotations

from typing import Any

import pytest

from router.config.schema import Matcher
from router.errors import ConfigError
from router.policy.matchers import Facts, compile_matcher, parse_comparison

LEVELS = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}


def facts(**kw: Any) -> Facts:
    base: dict[str, Any] = {
        "tenant": "acme",
        "user": "user-1",
        "tags": frozenset(),
        "level": 1,
        "route": "default",
        "metadata": {},
        "input_tokens": 100,
        "has_tools": False,
        "has_images": False,
    }
    base.update(kw)
    if isinstance(base["tags"], list | tuple):
        base["tags"] = frozenset(base["tags"])
    return Facts(**base)


def matches(when: dict[str, Any], **kw: Any) -> bool:
    preds, _ = compile_matcher("r", Matcher.model_validate(when), LEVELS)
    f = facts(**kw)
    return all(p(f) for p in preds)


@pytest.mark.parametrize("field", ["tenant", "user", "route"])
def test_string_fields(field: str) -> None:
    value = {"tenant": "acme", "user": "user-1", "route": "default"}[field]
    assert matches({field: value})
    assert not matches({field: value + "x"})
    assert matches({field: [value, "other"]})
    assert not matches({field: ["other"]})
    assert matches({field: {"in": [value]}})
    assert not matches({field: {"not_in": [value]}})
    assert matches({field: {"regex": value[:2] + ".*"}})
    assert not matches({field: {"regex": value[:2]}})  # whole value must match


def test_missing_value_never_equals() -> None:
    assert not matches({"tenant": "acme"}, tenant=None)
    assert not matches({"tenant": {"regex": ".*"}}, tenant=None)
    assert matches({"tenant": {"not_in": ["acme"]}}, tenant=None)


def test_tags() -> None:
    assert matches({"tags": "audit"}, tags=["audit", "x"])
    assert matches({"tags": ["a", "b"]}, tags=["b"])
    assert matches({"tags": {"any": ["a", "b"]}}, tags=["b"])
    assert not matches({"tags": {"any": ["a"]}}, tags=["b"])
    assert matches({"tags": {"all": ["a", "b"]}}, tags=["a", "b", "c"])
    assert not matches({"tags": {"all": ["a", "b"]}}, tags=["a"])
    assert matches({"tags": {"none": ["a"]}}, tags=["b"])
    assert not matches({"tags": {"none": ["a"]}}, tags=["a"])


@pytest.mark.parametrize(
    ("expr", "level", "expected"),
    [
        (">= confidential", 2, True),
        (">= confidential", 3, True),
        (">= confidential", 1, False),
        ("> internal", 2, True),
        ("> internal", 1, False),
        ("< internal", 0, True),
        ("<= internal", 1, True),
        ("confidential", 2, True),
        ("== confidential", 3, False),
        ("!= public", 1, True),
    ],
)
def test_sensitivity(expr: str, level: int, expected: bool) -> None:
    assert matches({"sensitivity": expr}, level=level) is expected


def test_metadata() -> None:
    assert matches({"metadata": {"region": "eu"}}, metadata={"region": "eu"})
    assert not matches({"metadata": {"region": "eu"}}, metadata={})
    assert matches({"metadata": {"region": {"in": ["eu", "uk"]}}}, metadata={"region": "uk"})
    assert matches({"metadata": {"team": {"regex": "fin-.*"}}}, metadata={"team": "fin-ops"})
    both = {"metadata": {"a": "1", "b": "2"}}
    assert matches(both, metadata={"a": "1", "b": "2"})
    assert not matches(both, metadata={"a": "1", "b": "3"})


def test_input_tokens() -> None:
    assert matches({"input_tokens": "> 4000"}, input_tokens=4001)
    assert not matches({"input_tokens": "> 4000"}, input_tokens=4000)
    assert matches({"input_tokens": "<= 10"}, input_tokens=10)


def test_booleans() -> None:
    assert matches({"has_tools": True}, has_tools=True)
    assert not matches({"has_tools": True}, has_tools=False)
    assert matches({"has_images": False}, has_images=False)
    assert not matches({"has_images": False}, has_images=True)


def test_all_fields_must_hold() -> None:
    when = {"tenant": "acme", "tags": {"any": ["audit"]}, "sensitivity": ">= internal"}
    assert matches(when, tags=["audit"])
    assert not matches(when, tags=["audit"], tenant="other")


def test_no_when_matches_everything() -> None:
    assert compile_matcher("r", None, LEVELS) == ((), ())


def test_never_matching_condition_is_noted() -> None:
    _, notes = compile_matcher("r", Matcher(sensitivity="> restricted"), LEVELS)
    assert notes and "never match" in notes[0]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"sensitivity": ">= secret"}, "unknown level 'secret'"),
        ({"sensitivity": "=> internal"}, "expected a comparison"),
        ({"input_tokens": "> lots"}, "not a whole number"),
        ({"tenant": {"regex": "("}}, "invalid regex"),
        ({"tenant": {"like": "a%"}}, "unknown key"),
        ({"tags": {"some": ["a"]}}, "tags:"),
        ({"metadata": {"k": {}}}, "empty matcher"),
    ],
)
def test_malformed_matchers_name_the_rule(when: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        compile_matcher("my-rule", Matcher.model_validate(when), LEVELS)
    assert "my-rule" in str(info.value)


def test_parse_comparison() -> None:
    assert parse_comparison(">=confidential") == (">=", "confidential")
    assert parse_comparison("= 5") == ("==", "5")
    assert parse_comparison("internal") == ("==", "internal")
