"""Loading a config document: YAML with line numbers, ``${VAR}`` interpolation,
validation, and errors that name file, line and key.

YAML is read from the safe loader's parser events: no tag is accepted (not
even a standard one), so no document can build an object or execute
anything; aliases are counted against :data:`MAX_ALIAS_NODES` and nesting
against :data:`MAX_DEPTH`, so no document can exhaust memory or the stack.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from ..errors import ConfigError
from .schema import Config

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "UnreadableConfig",
    "construct",
    "line_of",
    "load_config",
    "load_dict",
    "load_file",
    "load_policy",
    "locate",
    "parse_yaml",
    "policy_error",
    "policy_problems",
    "read_text",
]

Path_ = tuple[str | int, ...]
_T = TypeVar("_T")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Lines:
    """Key path → line number, recorded while building plain data from YAML events."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}

    def find(self, path: Path_) -> int | None:
        # Fall back to the closest ancestor that has a line.
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None


# An alias repeats its anchor's whole subtree, so a few lines of YAML can stand
# for billions of nodes ("billion laughs"). Every alias adds the number of nodes
# (mappings, sequences and scalars) its anchor expands to to a running total for
# the document; past MAX_ALIAS_NODES the document is refused. Hand-written
# configs that share a provider block or a list through anchors stay far below.
MAX_ALIAS_NODES = 100_000
"""Most nodes all aliases of one document may expand to, together."""

# Deeper nesting than any config needs would only exhaust the interpreter's
# stack further on (validation, copies); aliases count with what they expand to.
MAX_DEPTH = 100
"""Most mappings and sequences nested inside one another."""


def _interpolate(value: str, file: str | None, line: int | None, path: Path_) -> str:
    if "${" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        got = os.environ.get(name)
        if got is None or (got == "" and default is not None):
            if default is None:
                raise ConfigError(
                    f"environment variable {name} is not set",
                    file=file,
                    line=line,
                    key=".".join(map(str, path)) or None,
                )
            return default
        return got

    return _VAR.sub(sub, value)


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, _Lines]:
    """Parse YAML text into plain data plus a key-path → line map.

    Refused, each as a :class:`ConfigError` with its line: any tag, merge
    keys, duplicate keys, non-scalar keys, more than one document, recursive
    or undefined aliases, aliases expanding past :data:`MAX_ALIAS_NODES`
    nodes, nesting deeper than :data:`MAX_DEPTH`.
    """
    # The YAML machinery loads here: a config given as a dict never pays for it.
    from .yamlparse import build

    return build(text, file)


def _interpolate_tree(data: Any, path: Path_ = ()) -> Any:
    if isinstance(data, Mapping):
        return {str(k): _interpolate_tree(v, (*path, str(k))) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_interpolate_tree(v, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, str):
        return _interpolate(data, None, None, path)
    return data


def _problems(
    located: list[tuple[Path_, str]], file: str | None, lines: _Lines | None
) -> ConfigError:
    """One ConfigError listing every problem; its own fields are the first one's."""
    problems = [
        ConfigError(
            msg,
            file=file,
            line=lines.find(loc) if lines else None,
            key=".".join(map(str, loc)) or None,
        )
        for loc, msg in located
    ]
    first = problems[0]
    return ConfigError(first.message, file=file, line=first.line, key=first.key, problems=problems)


def _validate(data: Any, file: str | None, lines: _Lines | None) -> Config:
    if not isinstance(data, Mapping):
        raise ConfigError("the document must be a mapping of sections", file=file)
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        located = []
        for err in e.errors(include_url=False, include_input=False):
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            located.append((tuple(err["loc"]), msg))
        raise _problems(located, file, lines) from None
    refs = config.reference_problems()
    if refs:
        raise _problems(refs, file, lines)
    return config


class UnreadableConfig(ConfigError):
    """The file could not be read at all (missing, a directory, no permission).

    A command line tells this misuse apart from a file that reads but is wrong.
    """


def read_text(path: str | os.PathLike[str], what: str = "config") -> str:
    """The text of a UTF-8 file (a leading BOM dropped).

    :class:`UnreadableConfig` when the file cannot be read, :class:`ConfigError`
    with the line of the first bad byte when it is not UTF-8 (a binary file).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise UnreadableConfig(
            f"cannot read the {what} file: {e.strerror or e}", file=str(p)
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"the {what} file is not UTF-8 text: byte 0x{raw[e.start]:02x} at column {column}",
            file=str(p),
            line=line,
        ) from None
    return text.removeprefix("\ufeff")


def _read(path: str | os.PathLike[str]) -> tuple[Config, Any, _Lines]:
    file = str(path)
    data, lines = parse_yaml(read_text(path), file)
    return _validate(data, file, lines), data, lines


def load_file(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML config file."""
    return _read(path)[0]


def load_policy(path: str | os.PathLike[str]) -> tuple[Config, Policy]:
    """Read a config file and compile its policy.

    Every problem — schema, references, and those only compiling finds (a
    bad regex, an unknown enum value or provider kind) — comes in one
    :class:`ConfigError`, each located at file:line where the key has one.
    """
    from ..policy import Policy

    config, data, lines = _read(path)
    try:
        return config, Policy(config)
    except ConfigError as e:
        raise policy_error(e, config, str(path), data=data, lines=lines) from None


def line_of(key: str, data: Any, lines: _Lines) -> int | None:
    """The line of a dotted key such as ``models.gpt-4.1.provider`` or ``rules.<name>.when``.

    Names may hold dots: each step takes the longest name that matches. A
    list item is named by its index or, for rules, by its ``name``. Past
    the last step that matches, the closest ancestor's line stands in.
    """
    path: list[str | int] = []
    node, rest = data, key
    while rest:
        step: str | int | None = None
        taken = ""
        if isinstance(node, dict):
            names = [k for k in node if rest == k or rest.startswith(k + ".")]
            if names:
                step = taken = max(names, key=len)
        elif isinstance(node, list):
            head = rest.split(".", 1)[0]
            if head.isdigit() and int(head) < len(node):
                step, taken = int(head), head
            else:
                named = [
                    (i, item["name"])
                    for i, item in enumerate(node)
                    if isinstance(item, dict)
                    and isinstance(item.get("name"), str)
                    and (rest == item["name"] or rest.startswith(item["name"] + "."))
                ]
                if named:
                    step, taken = max(named, key=lambda n: len(n[1]))
        if step is None:
            break
        path.append(step)
        node = node[step]
        rest = rest[len(taken) + 1 :]
    return lines.find(tuple(path))


def locate(
    error: ConfigError, file: str | None, data: Any = None, lines: _Lines | None = None
) -> ConfigError:
    """``error`` with every problem's file, and line (from its key) where missing."""
    problems = []
    for p in error.problems or [error]:
        line = p.line
        if line is None and p.key and lines is not None:
            line = line_of(p.key, data, lines)
        problems.append(ConfigError(p.message, file=p.file or file, line=line, key=p.key))
    first = problems[0]
    return ConfigError(
        first.message, file=first.file, line=first.line, key=first.key, problems=problems
    )


# Compiling stops at the first problem. To find the others, the part it names
# is taken out and the rest compiled again, until it compiles or a problem
# names no part that can be taken out. A model taken out takes the routes that
# send to it along (they would only fail for its absence).
_MAX_ROUNDS = 50


def policy_problems(config: Config) -> list[ConfigError]:
    """Every problem compiling ``config``'s policy finds (none: it compiles)."""
    from ..policy import Policy

    problems: list[ConfigError] = []
    detectors = list(range(len(config.sensitivity.detect or ())))  # original indices left
    work = config
    for round_ in range(_MAX_ROUNDS):
        try:
            Policy(work)
            break
        except ConfigError as e:
            found = e.problems or [e]
        except Exception:
            # Only a config with parts taken out can get here: what it would
            # still find is not worth hiding the problems found so far.
            if round_ == 0:
                raise
            break
        problems.extend(_renumber(p, detectors) for p in found)
        smaller = _without(work, found[0].key, detectors)
        if smaller is None:
            break
        work = smaller
    return problems


def policy_error(
    error: ConfigError,
    config: Config,
    file: str | None,
    *,
    data: Any = None,
    lines: _Lines | None = None,
) -> ConfigError:
    """``error`` (raised building a router or policy from ``config``) with every
    policy problem, located in ``file`` (re-read for lines unless given)."""
    problems = policy_problems(config) or [error]
    if file is not None and lines is None:
        with contextlib.suppress(ConfigError):  # the file changed since: no lines then
            data, lines = parse_yaml(read_text(file), file)
    first = problems[0]
    return locate(
        ConfigError(
            first.message, file=first.file, line=first.line, key=first.key, problems=problems
        ),
        file,
        data,
        lines,
    )


def construct(build: Callable[[Config], _T], config: Config, file: str | None = None) -> _T:
    """``build(config)``; a :class:`ConfigError` it raises comes back with every
    policy problem of ``config``, located in ``file`` (``Router.from_file``)."""
    try:
        return build(config)
    except ConfigError as e:
        raise policy_error(e, config, file) from None


def _renumber(p: ConfigError, detectors: list[int]) -> ConfigError:
    """``p`` with a detector index of the reduced list mapped back to the config's."""
    parts = (p.key or "").split(".")
    if len(parts) >= 3 and parts[:2] == ["sensitivity", "detect"] and parts[2].isdigit():
        i = int(parts[2])
        if i < len(detectors):
            parts[2] = str(detectors[i])
            return ConfigError(p.message, file=p.file, line=p.line, key=".".join(parts))
    return p


def _without(config: Config, key: str | None, detectors: list[int]) -> Config | None:
    """``config`` without the part ``key`` names; None when it names none."""
    parts = (key or "").split(".")
    section = parts[0]
    rest = ".".join(parts[1:])
    update: dict[str, Any] = {}
    gone_models: set[str] = set()
    if section == "sensitivity" and len(parts) >= 3 and parts[1] == "detect":
        i = int(parts[2]) if parts[2].isdigit() else -1
        detect = list(config.sensitivity.detect or ())
        if not 0 <= i < len(detect):
            return None
        del detect[i]
        del detectors[i]
        update["sensitivity"] = config.sensitivity.model_copy(update={"detect": tuple(detect)})
    elif section == "rules":
        rules = [r for r in config.rules if not _names(rest, r.name)]
        if len(rules) == len(config.rules):
            return None
        update["rules"] = type(config.rules)(rules)
    elif section == "routes":
        routes = {n: r for n, r in config.routes.items() if not _names(rest, n)}
        if len(routes) == len(config.routes):
            return None
        update["routes"] = routes
    elif section == "models":
        gone_models = {n for n in config.models if _names(rest, n)}
    elif section == "providers":
        gone = {n for n in config.providers if _names(rest, n)}
        if not gone:
            return None
        update["providers"] = {n: p for n, p in config.providers.items() if n not in gone}
        gone_models = {n for n, m in config.models.items() if m.provider in gone}
    else:
        return None
    if section in ("models", "providers"):
        if section == "models" and not gone_models:
            return None
        update["models"] = {n: m for n, m in config.models.items() if n not in gone_models}
        routes = update.get("routes", config.routes)
        update["routes"] = {
            n: r
            for n, r in routes.items()
            if gone_models.isdisjoint(r.all_models())
            and (r.shadow is None or r.shadow.model not in gone_models)
        }
    return config.model_copy(update=update)


def _names(rest: str, name: str) -> bool:
    """Whether the rest of a dotted key starts with ``name`` (names may hold dots)."""
    return rest == name or rest.startswith(name + ".")


def load_dict(data: Mapping[str, Any]) -> Config:
    """Validate a config given as plain data (``${VAR}`` is interpolated too)."""
    return _validate(_interpolate_tree(data), None, None)


def load_config(source: Config | Mapping[str, Any] | str | os.PathLike[str]) -> Config:
    """A :class:`Config` from a Config, a dict, or a path to a YAML file."""
    if isinstance(source, Config):
        return source
    if isinstance(source, Mapping):
        return load_dict(source)
    return load_file(source)
