"""Plain data and line numbers from YAML text: what `loader.parse_yaml` returns.

Kept apart so that PyYAML loads only when a config is read from YAML, never
for a config given as plain data. The limits it enforces are
:data:`~router.config.loader.MAX_ALIAS_NODES` and
:data:`~router.config.loader.MAX_DEPTH`.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import ConfigError
from .loader import MAX_ALIAS_NODES, MAX_DEPTH, Path_, _interpolate, _Lines

__all__ = ["build"]

# libyaml's parser when PyYAML was built with it: same events and marks, ~10x faster.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Open:
    """A mapping or sequence whose end event has not come yet."""

    __slots__ = ("anchor", "first", "height", "key", "path", "size", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: Path_, anchor: str | None) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.first = 0  # where its lines start in the builder's log (anchored ones only)
        self.size = 1  # nodes, aliases expanded
        self.height = 1  # nesting levels, aliases expanded
        self.key: str | None = None  # a mapping's key still waiting for its value


class _Anchor:
    """What an alias to an anchor copies: the value, its size and its lines."""

    __slots__ = ("height", "lines", "size", "value")

    def __init__(self, value: Any, size: int, height: int, lines: list[tuple[Path_, int]]) -> None:
        self.value = value
        self.size = size
        self.height = height
        self.lines = lines  # paths relative to the anchored node


def _copy(value: Any) -> Any:
    # Depth is bounded by MAX_DEPTH, size by MAX_ALIAS_NODES.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _Builder:
    """Plain data and line numbers straight from the parser's events.

    Working on events rather than on composed nodes keeps what nodes lose:
    whether a tag was written (every tag is refused, even a standard one)
    and where each alias stands. The loop is iterative, so nesting cannot
    exhaust the stack, and aliases are counted before anything is copied.
    """

    def __init__(self, loader: Any, file: str | None) -> None:
        self.loader = loader
        self.file = file
        self.lines = _Lines()
        self.anchors: dict[str, _Anchor] = {}
        self.stack: list[_Open] = []
        self.expanded = 0
        self.log: list[tuple[Path_, int]] = []  # lines set while an anchored node is open
        self.recording = 0

    def error(self, message: str, mark: Any, key: Path_ | None = None) -> ConfigError:
        return ConfigError(
            message,
            file=self.file,
            line=mark.line + 1 if mark is not None else None,
            key=".".join(map(str, key)) if key else None,
        )

    def set_line(self, path: Path_, line: int, *, replace: bool = True) -> None:
        if replace:
            self.lines.lines[path] = line
        else:
            line = self.lines.lines.setdefault(path, line)
        if self.recording:
            self.log.append((path, line))

    def no_tag(self, event: Any) -> None:
        if event.tag is not None:
            raise self.error(f"YAML tag {event.tag!r} is not allowed", event.start_mark)

    def document(self) -> Any:
        """The single document of the stream, as plain data."""
        loader = self.loader
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            raise ConfigError("the document is empty", file=self.file)
        loader.get_event()  # document start
        value = self.value()
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise self.error(
                "a config is one YAML document; another one starts here",
                loader.peek_event().start_mark,
            )
        return value

    def value(self) -> Any:
        loader, stack = self.loader, self.stack
        while True:
            event = loader.get_event()
            kind = type(event)
            parent = stack[-1] if stack else None
            if parent is not None and parent.key is None and type(parent.value) is dict:
                if kind is yaml.MappingEndEvent:
                    value, size, height = self.close()
                else:
                    self.key(parent, event)
                    continue
            elif kind is yaml.SequenceEndEvent:
                value, size, height = self.close()
            else:
                path = self.child_path(parent)
                if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    self.open(event, path)
                    continue
                if kind is yaml.AliasEvent:
                    value, size, height = self.alias(event, path)
                else:
                    value, size, height = self.scalar(event, path), 1, 0
                    if event.anchor is not None:
                        line = self.lines.lines.get(path, event.start_mark.line + 1)
                        self.anchors[event.anchor] = _Anchor(value, 1, 0, [((), line)])
            parent = stack[-1] if stack else None
            if parent is None:
                return value
            parent.size += size
            if height >= parent.height:
                parent.height = height + 1
            container = parent.value
            if type(container) is list:
                container.append(value)
            else:
                assert isinstance(container, dict) and parent.key is not None
                container[parent.key] = value
                parent.key = None

    def child_path(self, parent: _Open | None) -> Path_:
        if parent is None:
            return ()
        if isinstance(parent.value, dict):
            assert parent.key is not None
            return (*parent.path, parent.key)
        return (*parent.path, len(parent.value))

    def open(self, event: Any, path: Path_) -> None:
        self.no_tag(event)
        if len(self.stack) + 1 > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep", event.start_mark, path)
        frame = _Open({} if isinstance(event, yaml.MappingStartEvent) else [], path, event.anchor)
        if event.anchor is not None:
            if not self.recording:
                self.log.clear()
            self.recording += 1
            frame.first = len(self.log)
        self.set_line(path, event.start_mark.line + 1, replace=False)
        self.stack.append(frame)

    def close(self) -> tuple[Any, int, int]:
        frame = self.stack.pop()
        if frame.anchor is not None:
            n = len(frame.path)
            rel = [(p[n:], line) for p, line in self.log[frame.first :]]
            self.anchors[frame.anchor] = _Anchor(frame.value, frame.size, frame.height, rel)
            self.recording -= 1
        return frame.value, frame.size, frame.height

    def alias(self, event: Any, path: Path_) -> tuple[Any, int, int]:
        name = event.anchor
        where = event.start_mark
        if any(f.anchor == name for f in self.stack):
            raise self.error(f"recursive YAML alias *{name}: it stands inside &{name}", where)
        anchor = self.anchors.get(name)
        if anchor is None:
            raise self.error(f"YAML alias *{name} names no anchor defined before it", where)
        self.expanded += anchor.size
        if self.expanded > MAX_ALIAS_NODES:
            raise self.error(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes "
                "(the limit, which stops alias bombs)",
                where,
            )
        if len(self.stack) + anchor.height > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep", where, path)
        self.set_line(path, where.line + 1, replace=False)
        for rel, line in anchor.lines:
            if rel:
                self.set_line((*path, *rel), line, replace=False)
        return _copy(anchor.value), anchor.size, anchor.height

    def scalar(self, event: Any, path: Path_) -> Any:
        self.no_tag(event)
        line = event.start_mark.line + 1
        self.set_line(path, line, replace=False)
        value = self.construct(event)
        if isinstance(value, str):
            return _interpolate(value, self.file, line, path)
        return value

    def construct(self, event: Any) -> Any:
        # Only untagged scalars reach here: the resolver gives the standard type.
        if not event.implicit[0]:
            return event.value  # quoted: a string
        tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR_TAG:
            # Most of a config's scalars; the constructor's generic path costs far more.
            return event.value
        if tag == _MERGE_TAG:  # ``<<``: a merge key (refused in key()), else just text
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return self.loader.construct_object(node)

    def key(self, parent: _Open, event: Any) -> None:
        mark = event.start_mark
        if type(event) is yaml.ScalarEvent:
            self.no_tag(event)
            if event.implicit[0] and event.value == "<<":
                raise self.error("YAML merge keys are not supported", mark)
            key = self.construct(event)
        elif isinstance(event, yaml.AliasEvent):
            anchor = self.anchors.get(event.anchor or "")
            if anchor is None:
                raise self.error(
                    f"YAML alias *{event.anchor} names no anchor defined before it", mark
                )
            key = anchor.value
        else:
            raise self.error("mapping keys must be scalars", mark)
        if not isinstance(key, str | int | float | bool):
            raise self.error("mapping keys must be scalars", mark)
        skey = str(key)
        assert isinstance(parent.value, dict)
        if skey in parent.value:
            raise self.error("duplicate key", mark, (*parent.path, skey))
        self.set_line((*parent.path, skey), mark.line + 1)
        parent.key = skey


def _yaml_error(e: yaml.YAMLError, what: str, file: str | None, text: str) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    line = (mark.line + 1) if mark else None
    if isinstance(e, yaml.reader.ReaderError):
        # A character YAML does not allow (control characters): only a position.
        line = text.count("\n", 0, e.position) + 1
        ch = e.character
        shown = f" (U+{ch:04X})" if isinstance(ch, int) else ""
        return ConfigError(f"{what}: {e.reason}{shown}", file=file, line=line)
    return ConfigError(f"{what}: {getattr(e, 'problem', None) or e}", file=file, line=line)


def build(text: str, file: str | None = None) -> tuple[Any, _Lines]:
    """What :func:`~router.config.loader.parse_yaml` returns, for YAML ``text``."""
    loader = _SafeLoader(text)
    builder = _Builder(loader, file)
    try:
        return builder.document(), builder.lines
    except yaml.YAMLError as e:
        raise _yaml_error(e, "invalid YAML", file, text) from None
    finally:
        loader.dispose()
