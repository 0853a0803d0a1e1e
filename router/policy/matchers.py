"""Rule matchers compiled from data: a ``when`` becomes a tuple of small predicates.

A matcher is never code: it is a structure over request facts (tenant, user,
tags, sensitivity, route, metadata, estimated input tokens, tools, images).
Compiling happens once per config; a bad matcher raises :class:`ConfigError`
naming its rule.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.schema import Matcher
from ..errors import ConfigError

__all__ = ["Facts", "Predicate", "compile_matcher", "parse_comparison"]


@dataclass(slots=True, eq=False)
class Facts:
    """What rules may look at, gathered once per request."""

    tenant: str | None
    user: str | None
    tags: frozenset[str]
    level: int
    route: str
    metadata: Mapping[str, str]
    input_tokens: int
    has_tools: bool
    has_images: bool


Predicate = Callable[[Facts], bool]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_CMP = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*([A-Za-z0-9_.-]+)\s*$")


def parse_comparison(text: str) -> tuple[str, str]:
    """``">= confidential"`` → ``(">=", "confidential")``; a bare value means ``==``."""
    m = _CMP.match(text)
    if m is None:
        raise ValueError(f"expected a comparison such as '>= value', got {text!r}")
    op = m.group(1) or "=="
    return ("==" if op == "=" else op), m.group(2)


def _str_pred(spec: Any, where: str) -> Callable[[str | None], bool]:
    """A test on one string value: equals, one of, ``{in}``, ``{not_in}``, ``{regex}``."""
    if isinstance(spec, str):
        return lambda v: v == spec
    if isinstance(spec, list):
        values = frozenset(map(str, spec))
        return lambda v: v in values
    if isinstance(spec, dict):
        unknown = set(spec) - {"in", "not_in", "regex"}
        if unknown or not spec:
            raise ValueError(
                f"{where}: unknown key(s) {sorted(unknown)}; use 'in', 'not_in' or 'regex'"
                if unknown
                else f"{where}: empty matcher"
            )
        tests: list[Callable[[str | None], bool]] = []
        if "in" in spec:
            inside = frozenset(map(str, _as_list(spec["in"], where)))
            tests.append(lambda v: v in inside)
        if "not_in" in spec:
            outside = frozenset(map(str, _as_list(spec["not_in"], where)))
            tests.append(lambda v: v not in outside)
        if "regex" in spec:
            try:
                rx = re.compile(str(spec["regex"]))
            except re.error as e:
                raise ValueError(f"{where}: invalid regex {spec['regex']!r}: {e}") from None
            # The whole value must match: ``acme`` does not admit ``acme-evil``.
            tests.append(lambda v: v is not None and rx.fullmatch(v) is not None)
        if len(tests) == 1:
            return tests[0]
        return lambda v: all(t(v) for t in tests)
    raise ValueError(f"{where}: expected a string, a list, or {{in|not_in|regex: ...}}")


def _as_list(v: Any, where: str) -> list[Any]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list | tuple):
        return list(v)
    raise ValueError(f"{where}: expected a list")


def _tags_pred(spec: Any) -> Predicate:
    if isinstance(spec, str | list):
        wanted = frozenset(_as_list(spec, "tags"))
        return lambda f: not wanted.isdisjoint(f.tags)
    unknown = set(spec) - {"any", "all", "none"}
    if unknown or not spec:
        raise ValueError("tags: use {any: [...]}, {all: [...]} or {none: [...]}")
    tests: list[Predicate] = []
    if "any" in spec:
        any_of = frozenset(_as_list(spec["any"], "tags.any"))
        tests.append(lambda f: not any_of.isdisjoint(f.tags))
    if "all" in spec:
        all_of = frozenset(_as_list(spec["all"], "tags.all"))
        tests.append(lambda f: all_of <= f.tags)
    if "none" in spec:
        none_of = frozenset(_as_list(spec["none"], "tags.none"))
        tests.append(lambda f: none_of.isdisjoint(f.tags))
    return tests[0] if len(tests) == 1 else (lambda f: all(t(f) for t in tests))


def _field(name: str, test: Callable[[str | None], bool]) -> Predicate:
    get = operator.attrgetter(name)
    return lambda f: test(get(f))


def compile_matcher(
    rule: str, when: Matcher | None, levels: Mapping[str, int]
) -> tuple[tuple[Predicate, ...], tuple[str, ...]]:
    """Predicates that must all hold for ``rule`` to match, plus lint notes.

    The notes name conditions that can never hold (e.g. ``> restricted``).
    Raises :class:`ConfigError` (key ``rules.<name>.when``) for a malformed matcher.
    """
    if when is None:
        return (), ()
    preds: list[Predicate] = []
    notes: list[str] = []
    try:
        for name in ("tenant", "user", "route"):
            spec = getattr(when, name)
            if spec is not None:
                preds.append(_field(name, _str_pred(spec, name)))
        if when.tags is not None:
            preds.append(_tags_pred(when.tags))
        if when.sensitivity is not None:
            op, level = parse_comparison(when.sensitivity)
            if level not in levels:
                raise ValueError(
                    f"sensitivity: unknown level {level!r}; levels: {', '.join(levels)}"
                )
            idx, top = levels[level], len(levels) - 1
            if (op == ">" and idx == top) or (op == "<" and idx == 0):
                notes.append(f"sensitivity {when.sensitivity!r} can never match")
            cmp = _OPS[op]
            preds.append(lambda f: cmp(f.level, idx))
        for key, spec in (when.metadata or {}).items():
            test = _str_pred(spec, f"metadata.{key}")
            preds.append(lambda f, key=key, test=test: test(f.metadata.get(key)))  # type: ignore[misc]
        if when.input_tokens is not None:
            op, num = parse_comparison(when.input_tokens)
            try:
                bound = int(num)
            except ValueError:
                raise ValueError(f"input_tokens: {num!r} is not a whole number") from None
            cmp_t = _OPS[op]
            preds.append(lambda f: cmp_t(f.input_tokens, bound))
        if when.has_tools is not None:
            want_tools = when.has_tools
            preds.append(lambda f: f.has_tools is want_tools)
        if when.has_images is not None:
            want_images = when.has_images
            preds.append(lambda f: f.has_images is want_images)
    except ValueError as e:
        raise ConfigError(f"rule {rule!r}: {e}", key=f"rules.{rule}.when") from None
    return tuple(preds), tuple(notes)
