"""Loading a config document: YAML with line numbers, ``${VAR}`` interpolation,
validation, and errors that name file, line and key.

YAML is read with the safe loader's composer only (no tags, no constructors
that build objects), so no document can execute anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from .schema import Config

__all__ = ["load_config", "load_dict", "load_file", "parse_yaml"]

Path_ = tuple[str | int, ...]
# libyaml's parser when PyYAML was built with it: same nodes and marks, ~10x faster.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Lines:
    """Key path → line number, recorded while building plain data from YAML nodes."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}

    def find(self, path: Path_) -> int | None:
        # Fall back to the closest ancestor that has a line.
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None


def _build(
    node: yaml.Node, path: Path_, lines: _Lines, loader: yaml.SafeLoader, file: str | None
) -> Any:
    lines.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(
                    "YAML merge keys are not supported", file=file, line=knode.start_mark.line + 1
                )
            key = _scalar(knode, loader, file)
            if not isinstance(key, str | int | float | bool):
                raise ConfigError(
                    "mapping keys must be scalars", file=file, line=knode.start_mark.line + 1
                )
            skey = str(key)
            if skey in out:
                raise ConfigError(
                    "duplicate key",
                    file=file,
                    line=knode.start_mark.line + 1,
                    key=".".join(map(str, (*path, skey))),
                )
            lines.lines[(*path, skey)] = knode.start_mark.line + 1
            out[skey] = _build(vnode, (*path, skey), lines, loader, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, (*path, i), lines, loader, file) for i, v in enumerate(node.value)]
    value = _scalar(node, loader, file)
    if isinstance(value, str):
        return _interpolate(value, file, node.start_mark.line + 1, path)
    return value


def _scalar(node: yaml.Node, loader: yaml.SafeLoader, file: str | None) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError("expected a scalar", file=file, line=node.start_mark.line + 1)
    # Only the standard YAML types are built; any other tag is refused.
    if not node.tag.startswith("tag:yaml.org,2002:"):
        raise ConfigError(
            f"YAML tag {node.tag!r} is not allowed", file=file, line=node.start_mark.line + 1
        )
    if node.tag == _STR_TAG:
        # Most of a config's scalars; the constructor's generic path costs far more.
        return node.value
    return loader.construct_object(node)


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


def _yaml_error(e: yaml.YAMLError, what: str, file: str | None) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    return ConfigError(
        f"{what}: {getattr(e, 'problem', None) or e}",
        file=file,
        line=(mark.line + 1) if mark else None,
    )


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, _Lines]:
    """Parse YAML text into plain data plus a key-path → line map."""
    lines = _Lines()
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("the document is empty", file=file)
        return _build(node, (), lines, loader, file), lines
    except yaml.YAMLError as e:
        raise _yaml_error(e, "invalid YAML", file) from None
    finally:
        loader.dispose()


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


def load_file(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config: {e.strerror}", file=str(p)) from None
    data, lines = parse_yaml(text, str(p))
    return _validate(data, str(p), lines)


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
