"""Every text a request can carry to a target: what the detectors must scan.

Adapters build their wire bodies from one canonical form, the validated
:class:`~router.types.ChatRequest`. Instead of listing the fields that may
hold data, :func:`scan_texts` walks all of it — messages, content parts
with whatever keys they hold, tool calls, tools, ``response_format``,
``tool_choice``, ``stop``, ``user`` and every numeric parameter — so a field
added to the request type, or a key a caller slips into a content part, is
scanned without anyone remembering to list it.

Adapters also *join* what the caller kept apart: a message's text parts
(``Message.text()``), consecutive same-role turns (Anthropic and Gemini
merge them into one turn; a tool result is a user turn there), system
messages. A value split across two parts is whole on the wire. So besides
each text on its own, the scanner gets each multi-part message joined, and a
window of :data:`JOIN_WINDOW` characters either side of every boundary
between consecutive messages that an adapter may merge. A split value is
found when neither side holds more than that of it; every built-in
detector's match is shorter, but for a JWT with a header over 128
characters or an email with a very long domain.

Every string is also checked for lone surrogates, which no adapter could
encode: a :class:`~router.errors.RequestError` before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import RequestError
from ..types import ChatRequest, Message

__all__ = [
    "JOIN_WINDOW",
    "MAX_DEPTH",
    "layout_contents",
    "scan_inputs",
    "scan_layout",
    "scan_texts",
]

JOIN_WINDOW = 128
"""Characters kept on each side of a boundary between two message texts."""

_SEP = "\n|\n"
"""Joins the small structural strings into one text: it breaks every pattern
(no detector matches across ``|``), so joining adds no match the parts lack."""

# The turn each role's text lands in, on the wire of the adapters that merge turns.
_TURN = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "tool": "user",
    "assistant": "assistant",
}

_PARAMS = ("max_tokens", "temperature", "top_p", "seed", "stop", "user", "tool_choice")


def scan_texts(request: ChatRequest) -> list[str]:
    """The texts to scan for ``request``: message texts, joins across parts, everything else.

    Raises :class:`RequestError` for a string that is not valid Unicode (a lone
    surrogate), naming the field.
    """
    return scan_layout(request)[0]


def scan_layout(request: ChatRequest) -> tuple[list[str], int]:
    """:func:`scan_texts`, and how many of its first texts are the messages' string
    contents (:func:`layout_contents`), with nothing joined from them — then at
    most one text follows, every other string joined — or -1 when the layout is
    any other.

    The redaction check uses it: a request redacted in its contents only has
    the same layout, so its texts are known without walking it again.
    """
    texts: list[str] = []
    other: list[str] = []  # every other string, joined into one text at the end
    flow: list[str] = []  # texts of consecutive messages an adapter may merge
    turn = ""
    simple = True
    # Fields are read from the models' dicts here and below: attribute access on
    # a pydantic model goes through its __getattr__ hook, several times a message.
    rd = request.__dict__
    for i, m in enumerate(rd["messages"]):
        role = _TURN[m.__dict__["role"]]
        if role != turn:
            if len(flow) > 1:
                texts.extend(_windows(flow))
                simple = False
            flow = []
            turn = role
        if not _message(m, i, texts, flow, other):
            simple = False
    _params(request, other)
    if rd["tools"] is not None:
        _walk(rd["tools"], "tools", other)
    if rd["response_format"] is not None:
        _walk(rd["response_format"], "response_format", other)
    if len(flow) > 1:
        texts.extend(_windows(flow))
        simple = False
    direct = len(texts) if simple else -1
    if other:
        texts.append(_SEP.join(other))
    return texts, direct


def layout_contents(request: ChatRequest) -> list[str]:
    """The texts :func:`scan_layout` counts as direct when it counts them: the
    messages' non-empty string contents, in order."""
    contents = (m.__dict__["content"] for m in request.__dict__["messages"])
    return [c for c in contents if c and isinstance(c, str)]


def scan_inputs(request: ChatRequest) -> list[str]:
    """The texts to scan for an embedding request (one user message per input).

    The inputs joined by :data:`_SEP`, which no built-in detector matches
    across: one scan finds what scanning each input alone finds (a decoding
    one input's text triggers applies to all, so possibly more), without the
    fixed cost of a scan per input. Then, as for chat, the windows across the
    boundaries between inputs (a value split over two inputs still travels in
    one body) and every parameter. For built-in detectors only: a user-written
    pattern may be anchored (``^…$``) to the start of a text, so a policy with
    one scans each input alone (:func:`scan_texts`).
    """
    texts: list[str] = []
    flow: list[str] = []
    other: list[str] = []
    for i, m in enumerate(request.messages):
        _message(m, i, texts, flow, other)
    _params(request, other)
    out = [_SEP.join(texts)] if texts else []
    if len(flow) > 1:
        out.extend(_windows(flow))
    if other:
        out.append(_SEP.join(other))
    return out


def _params(request: ChatRequest, other: list[str]) -> None:
    rd = request.__dict__
    for name in _PARAMS:
        value = rd[name]
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            other.append(repr(value))  # the common case: max_tokens, temperature
        else:
            _walk(value, name, other)


def _message(m: Message, i: int, texts: list[str], flow: list[str], other: list[str]) -> bool:
    """Add ``m``'s strings; whether its only text is its string content (or it has none)."""
    md = m.__dict__
    where = f"messages[{i}]"
    content = md["content"]
    simple = True
    if isinstance(content, str):
        if content:
            if not content.isascii():
                _check(content, f"{where}.content")
            texts.append(content)
            flow.append(content)
    elif content:
        simple = False
        parts: list[str] = []
        for j, part in enumerate(content):
            at = f"{where}.content[{j}]"
            for key, value in part.items():
                _check(key, at)
                if key == "text" and isinstance(value, str):
                    if value:
                        _check(value, f"{at}.text")
                        texts.append(value)
                        if part.get("type") == "text":
                            parts.append(value)
                    continue
                other.append(key)
                _walk(value, at, other, ("." + key, None))
        if len(parts) > 1:
            # What Message.text() — and every adapter that joins parts — sends.
            texts.append("".join(parts))
        if parts:
            flow.append("".join(parts))
    for j, tc in enumerate(md["tool_calls"] or ()):
        simple = False
        at = f"{where}.tool_calls[{j}]"
        args = tc.function.arguments
        if args:
            _check(args, f"{at}.function.arguments")
            texts.append(args)
            flow.append(args)
        for field, value in (("id", tc.id), ("function.name", tc.function.name)):
            _check(value, f"{at}.{field}")
            other.append(value)
    for field, value in (("name", md["name"]), ("tool_call_id", md["tool_call_id"])):
        if value:
            _check(value, f"{where}.{field}")
            other.append(value)
    return simple


MAX_DEPTH = 64
"""Deepest nesting of lists and mappings a request may carry (a tool's schema,
``response_format``, a content part): deeper is a :class:`RequestError`, not a
RecursionError later in a JSON encoder."""

# A path is built only for an error: each item keeps a link (its key, its parent's
# link), so walking a wide or deep structure never copies path strings.
_Link = tuple[str, Any] | None


# Keys are the caller's data too: an error names one only when it looks like a
# schema's field name (short, an identifier, no run of digits), else "{…}".
_SHOWN_KEY = re.compile(r"\.[A-Za-z_][A-Za-z_-]{0,23}(?:[0-9]{1,3})?")


def _path(where: str, link: _Link) -> str:
    keys: list[str] = []
    while link is not None:
        key, link = link
        shown = key.startswith("[") or _SHOWN_KEY.fullmatch(key) is not None
        keys.append(key if shown else ".{…}")
    return where + "".join(reversed(keys))


def _walk(value: Any, where: str, out: list[str], link: _Link = None) -> None:
    """Append every string in ``value`` (keys included; numbers as written) to ``out``."""
    stack: list[tuple[Any, int, _Link]] = [(value, 0, link)]
    while stack:
        v, depth, link = stack.pop()
        if isinstance(v, str):
            if not v.isascii():
                _check(v, _path(where, link))
            out.append(v)
        elif isinstance(v, Mapping | Sequence) and not isinstance(v, bytes | bytearray):
            if depth >= MAX_DEPTH:
                raise RequestError(
                    f"nested deeper than {MAX_DEPTH} levels", field=_path(where, link)
                )
            if isinstance(v, Mapping):
                for k, item in v.items():
                    key = str(k)
                    if not key.isascii():
                        _check(key, _path(where, link))
                    out.append(key)
                    stack.append((item, depth + 1, ("." + key, link)))
            else:
                stack.extend((item, depth + 1, (f"[{n}]", link)) for n, item in enumerate(v))
        elif isinstance(v, bool) or v is None:
            continue
        elif isinstance(v, int | float):
            out.append(repr(v))
        else:
            # Anything else is sent as whatever JSON makes of it; scan its text.
            out.append(str(v))


def _check(text: str, where: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(
                "the text holds a lone surrogate (not valid Unicode); no target can be sent it",
                field=where,
            ) from None


def _windows(flow: Sequence[str]) -> Iterator[str]:
    """Text either side of each boundary between consecutive message texts.

    Windows that overlap merge into one, so many short parts cost no more than
    their joined length.
    """
    joined = "".join(flow)
    size = len(joined)
    start = end = -1
    pos = 0
    for piece in flow[:-1]:
        pos += len(piece)
        lo, hi = max(0, pos - JOIN_WINDOW), min(size, pos + JOIN_WINDOW)
        if lo <= end:
            end = hi
            continue
        if end > start:
            yield joined[start:end]
        start, end = lo, hi
    if end > start:
        yield joined[start:end]
