"""Redaction as a policy effect: typed placeholders for what detectors find, and their restoring.

A rule's ``redact: {detectors, zones, restore}`` makes targets in those zones
receive the request with every span the named detectors find replaced by a
typed placeholder (``[EMAIL_1]``, ``[PHONE_2]``; one value, one placeholder;
numbers per type). The spans come from the detectors' own span finder
(:meth:`Detector.finditer`, the one telemetry redaction uses), run on every
string the canonical walk reaches — message texts and content parts, tool
call arguments, ids and names, tool results, tools, ``response_format``,
``stop``, ``user``.

Redaction replaces what it finds *as written*. A value the detectors find
only in another form — split across two parts or turns an adapter joins,
behind ``\\u0040`` or a full-width at sign — has no exact span to replace: the
engine classifies the redacted request again, joins and decoded forms
included, and a named detector that still fires makes every target of the
listed zones ineligible (fail closed; :mod:`router.policy.engine`).

Placeholders cannot be confused with the caller's text: numbers already used
in the request by something placeholder-shaped (``[EMAIL_1]`` typed by the
user, in any decoded form) are skipped, and only placeholders this request
issued are restored.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pydantic import BaseModel

from ..types import ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, ToolCallDelta
from .normalize import normalize, variants

if TYPE_CHECKING:
    from ..targets import Target
    from .detectors import Detector
    from .engine import Spans

__all__ = [
    "PLACEHOLDER",
    "Redacted",
    "Redaction",
    "Rewritten",
    "StreamRestorer",
    "redact_request",
    "reserved_numbers",
]

PLACEHOLDER = re.compile(r"\[([A-Z0-9_]+)_([0-9]+)\]")
"""The shape of a placeholder: ``[LABEL_N]``."""

_NUMERIC = ("max_tokens", "temperature", "top_p", "seed")
"""Fields redaction never changes and the pipeline may set after the decision
(``cap_output_tokens`` fills ``max_tokens``)."""


def reserved_numbers(texts: Iterable[str]) -> dict[str, set[int]]:
    """Placeholder numbers already present in ``texts``, by label, in every form a model reads.

    A caller who literally wrote ``[EMAIL_1]`` keeps it: this request's
    placeholders skip that number, so restoring never turns the caller's own
    text into a value.
    """
    taken: dict[str, set[int]] = {}
    for text in texts:
        if text.isascii() and not any(map(text.__contains__, "[\\%&")):
            continue
        forms = variants(text)
        if not text.isascii() or len(forms) > 1:
            forms = [*forms, *(normalize(f) for f in forms)]
        for form in forms:
            for m in PLACEHOLDER.finditer(form):
                taken.setdefault(m.group(1), set()).add(int(m.group(2)))
    return taken


class Rewritten(NamedTuple):
    """A string redaction changed, what it was, and where its placeholders are."""

    text: str
    was: str
    placeholders: list[tuple[int, int]]
    """``(start, end)`` of each placeholder in ``text``, in order."""


_START = itemgetter(0)
_END = itemgetter(1)
_PAST: tuple[int, int, Any] = (sys.maxsize, sys.maxsize, None)
"""A span after every other: it places the last real one."""


class _Issuer:
    """Placeholders of one request: one per (label, value), numbered per label."""

    __slots__ = ("by_value", "counts", "grew", "known", "next", "rewritten", "taken", "values")

    def __init__(
        self,
        taken: Mapping[str, set[int]],
        known: Mapping[int, Spans],
        rewritten: dict[int, Rewritten] | None,
    ) -> None:
        self.taken = taken
        self.known = known
        """What classification found in a text as written, by detector (of these
        detectors and maybe others, which are left alone)."""
        self.rewritten = rewritten
        """Filled, when given: id of each redacted text → what it was made of."""
        self.by_value: dict[tuple[str, str], str] = {}
        self.values: dict[str, str] = {}
        """Placeholder → value."""
        self.counts: dict[str, int] = {}
        """Detector name → spans replaced."""
        self.next: dict[str, int] = {}
        self.grew = False
        """Whether a placeholder is longer (in UTF-8) than its value."""

    def _issue(self, label: str, value: str) -> str:
        """A new placeholder for ``value``: the label's next number no one has taken."""
        n = self.next.get(label, 1)
        skip = self.taken.get(label)
        if skip:
            while n in skip:
                n += 1
        self.next[label] = n + 1
        ph = f"[{label}_{n}]"
        self.by_value[label, value] = ph
        self.values[ph] = value
        if len(ph) > len(value) and len(ph) > len(value.encode()):
            self.grew = True
        return ph

    def text(self, text: str, detectors: Sequence[Detector]) -> str:
        known = self.known.get(id(text))
        if known is None:
            spans = [(a, b, d) for d in detectors for a, b in d.finditer(text) if b > a]
        else:
            spans = [(a, b, d) for d, found in known if d in detectors for a, b in found if b > a]
        if not spans:
            return text
        if len(spans) > 1:
            # By start, the longest first at one start (it names a merged placeholder):
            # two stable sorts with C-level keys, the same order as one sort on
            # (start, -end).
            spans.sort(key=_END, reverse=True)
            spans.sort(key=_START)
        spans.append(_PAST)
        out: list[str] = []
        marks: list[tuple[int, int]] = []
        counts = self.counts
        by_value = self.by_value
        pos = size = 0  # where the text is copied from; the length written so far
        it = iter(spans)
        a, b, det = next(it)
        # Overlapping spans merge (the first detector's type names them): no
        # fragment of a match survives between two placeholders. Each span is
        # placed when the next one starts past it (the last, when _PAST does).
        for s, e, d in it:
            if s < b:
                if e > b:
                    b = e
                continue
            value = text[a:b]
            ph = by_value.get((det.label, value)) or self._issue(det.label, value)
            counts[det.name] = counts.get(det.name, 0) + 1
            size += a - pos
            marks.append((size, size + len(ph)))
            size += len(ph)
            out += (text[pos:a], ph)
            pos, a, b, det = b, s, e, d
        out.append(text[pos:])
        red = "".join(out)
        if self.rewritten is not None:
            self.rewritten[id(red)] = Rewritten(red, text, marks)
        return red

    def any(self, value: Any, detectors: Sequence[Detector]) -> Any:
        """``value`` (strings, lists, mappings, keys included) with its strings redacted;
        the same object when nothing changed."""
        if isinstance(value, str):
            return self.text(value, detectors)
        if isinstance(value, Mapping):
            changed = False
            out: dict[Any, Any] = {}
            for k, v in value.items():
                k2 = self.text(k, detectors) if isinstance(k, str) else k
                v2 = self.any(v, detectors)
                changed = changed or k2 is not k or v2 is not v
                out[k2] = v2
            return out if changed else value
        if isinstance(value, list | tuple):
            items = [self.any(v, detectors) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return type(value)(items)
        return value


class Redacted(NamedTuple):
    """What :func:`redact_request` made."""

    request: ChatRequest
    values: dict[str, str]
    """Placeholder → value."""
    counts: dict[str, int]
    """Detector name → spans replaced."""
    grew: bool
    """Whether a placeholder is longer (in UTF-8 bytes) than its value: the redacted
    request may then be longer than the request."""


def redact_request(
    request: ChatRequest,
    detectors: Sequence[Detector],
    taken: Mapping[str, set[int]],
    known: Mapping[int, Spans] | None = None,
    rewritten: dict[int, Rewritten] | None = None,
) -> Redacted:
    """``request`` with every span of ``detectors`` in every string replaced by a placeholder.

    Returns the redacted request, placeholder → value, detector name → spans
    replaced, and whether a placeholder grew its text. ``taken``: numbers to
    skip (:func:`reserved_numbers`);
    ``known``: what classification found in a text, by detector (every one of
    ``detectors``, as :meth:`Detector.finditer` finds them; other detectors
    are ignored), by the text's ``id`` (the caller keeps those texts alive),
    not searched again. ``rewritten``, when given, receives the
    id of every redacted string mapped to it, the string it replaced and where
    its placeholders are (the engine checks those again knowing that).
    """
    iss = _Issuer(taken, known or {}, rewritten)
    messages = []
    changed = False
    # Fields are read from the models' dicts: attribute access on a pydantic
    # model goes through its __getattr__ hook.
    for m in request.messages:
        md = m.__dict__
        upd: dict[str, Any] = {}
        content = iss.any(md["content"], detectors)
        if content is not md["content"]:
            upd["content"] = content
        for f in ("name", "tool_call_id"):
            v = md[f]
            if v:
                v2 = iss.text(v, detectors)
                if v2 is not v:
                    upd[f] = v2
        if m.tool_calls:
            calls = []
            for tc in m.tool_calls:
                fn = tc.function
                args = iss.text(fn.arguments, detectors)
                name = iss.text(fn.name, detectors)
                tid = iss.text(tc.id, detectors)
                if args is not fn.arguments or name is not fn.name or tid is not tc.id:
                    fn2 = _replace(fn, {"arguments": args, "name": name})
                    tc = _replace(tc, {"id": tid, "function": fn2})
                calls.append(tc)
            if any(a is not b for a, b in zip(calls, m.tool_calls, strict=True)):
                upd["tool_calls"] = calls
        if upd:
            changed = True
            m = _replace(m, upd)
        messages.append(m)
    upd_req: dict[str, Any] = {"messages": messages} if changed else {}
    rd = request.__dict__
    for f in ("stop", "tools", "tool_choice", "response_format", "user"):
        v = rd[f]
        if v is not None:
            v2 = iss.any(v, detectors)
            if v2 is not v:
                upd_req[f] = v2
    out = _replace(request, upd_req) if upd_req else request
    return Redacted(out, iss.values, iss.counts, iss.grew)


_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__


def _replace(model: _M, update: dict[str, Any]) -> _M:
    """``model.model_copy(update=update)``, for a model without extra or private values.

    The same shallow copy, made directly: ``model_copy`` goes through
    ``copy.copy`` three times and checks the model's ``extra`` setting, which
    cost more than the copy on the redacted request's path. A model that holds
    extra or private values takes ``model_copy``.
    """
    if model.__pydantic_extra__ is not None or model.__pydantic_private__ is not None:
        return model.model_copy(update=update)
    new = object.__new__(type(model))
    _set(new, "__dict__", {**model.__dict__, **update})
    _set(new, "__pydantic_extra__", None)
    _set(new, "__pydantic_fields_set__", model.__pydantic_fields_set__ | update.keys())
    _set(new, "__pydantic_private__", None)
    return new


class Redaction(NamedTuple):
    """What targets in ``zones`` receive instead of the request, and how answers come back.

    ``detectors`` holds counts only; the values and the redacted request are
    kept out of ``repr`` and :meth:`to_dict`. Immutable; equal only to itself.
    (A named tuple rather than a frozen dataclass: it is made on every redacted
    decision, and a frozen dataclass sets each field through
    ``object.__setattr__``, four times the cost.)
    """

    zones: frozenset[str]
    detectors: Mapping[str, int]
    """Detector name → spans replaced."""
    restore: bool
    level: str
    """The sensitivity the policy decided those targets on (the redacted text's)."""
    rules: tuple[str, ...]
    """The rules whose ``redact`` effect asked for it."""
    request: ChatRequest
    values: Mapping[str, str]
    """Placeholder → value."""

    def __repr__(self) -> str:
        return (
            f"Redaction(zones={self.zones!r}, detectors={self.detectors!r}, "
            f"restore={self.restore!r}, level={self.level!r}, rules={self.rules!r})"
        )

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def applies(self, target: Target) -> bool:
        """Whether ``target`` is sent the redacted request."""
        return target.zone in self.zones

    def request_for(self, request: ChatRequest) -> ChatRequest:
        """The redacted form of ``request`` (the decided request, with the numeric
        parameters the pipeline set since the decision)."""
        red = self.request
        # Field values read from the instances' dicts: attribute access on a model
        # goes through its __getattr__ hook, eight times on every send.
        now, was = request.__dict__, red.__dict__
        upd = {f: now[f] for f in _NUMERIC if now[f] != was[f]}
        return red.model_copy(update=upd) if upd else red

    def summary(self) -> str:
        """``email x2, phone x1``."""
        return ", ".join(f"{k} x{v}" for k, v in sorted(self.detectors.items()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: detector names and counts, never values."""
        return {
            "detectors": dict(sorted(self.detectors.items())),
            "zones": sorted(self.zones),
            "restore": self.restore,
            "sensitivity": self.level,
            "rules": list(self.rules),
        }

    # --- restoring ---------------------------------------------------------

    def restore_text(self, text: str, *, json_string: bool = False) -> str:
        """``text`` with this request's placeholders replaced by their values.

        ``json_string``: the text is JSON (tool-call arguments), values go in escaped.
        """
        if "[" not in text:
            return text
        values = self.values

        def one(m: re.Match[str]) -> str:
            v = values.get(m.group())
            if v is None:
                return m.group()  # not ours: the caller's own text, or made up
            return json.dumps(v, ensure_ascii=False)[1:-1] if json_string else v

        return PLACEHOLDER.sub(one, text)

    def restore_response(self, response: ChatResponse) -> ChatResponse:
        """``response`` with placeholders restored in content, refusals and tool calls."""
        for c in response.choices:
            msg = c.message
            # Assigned only when changed: each assignment is a model's __setattr__.
            if msg.content and "[" in msg.content:
                msg.content = self.restore_text(msg.content)
            if msg.refusal and "[" in msg.refusal:
                msg.refusal = self.restore_text(msg.refusal)
            for tc in msg.tool_calls or ():
                tc.function.arguments = self.restore_text(tc.function.arguments, json_string=True)
                tc.function.name = self.restore_text(tc.function.name)
        return response

    @property
    def longest(self) -> int:
        """The length of the longest placeholder issued."""
        return max(map(len, self.values), default=0)


class StreamRestorer:
    """Restores placeholders in a stream of chunks, whole even when split across chunks.

    For each choice's content and each tool call's arguments, text from the
    last ``[`` on is held back while it could still be the start of a
    placeholder this request issued (so at most the longest placeholder less
    one character), and released — restored — with the next chunk, the
    choice's finish, or :meth:`flush`.
    """

    def __init__(self, redaction: Redaction) -> None:
        self._r = redaction
        self._prefixes = frozenset(p[:i] for p in redaction.values for i in range(1, len(p)))
        self._held: dict[tuple[int, int], str] = {}
        """(choice index, -1 for content or the tool call's index) → text held back."""
        self._last = ChatChunk()

    def _pass(self, key: tuple[int, int], text: str, json_string: bool) -> str:
        held = self._held.pop(key, "")
        text = held + text if held else text
        cut = text.rfind("[")
        if cut != -1 and text[cut:] in self._prefixes:
            self._held[key] = text[cut:]
            text = text[:cut]
        return self._r.restore_text(text, json_string=json_string) if text else text

    def _release(self, index: int, delta: Delta) -> None:
        for key in sorted(k for k in self._held if k[0] == index):
            text = self._r.restore_text(self._held.pop(key), json_string=key[1] >= 0)
            if key[1] < 0:
                delta.content = (delta.content or "") + text
            else:
                delta.tool_calls = [
                    *(delta.tool_calls or ()),
                    ToolCallDelta(index=key[1], function={"arguments": text}),
                ]

    def feed(self, chunk: ChatChunk) -> ChatChunk:
        """``chunk`` with its text restored and possibly shortened (held back)."""
        self._last = chunk
        for c in chunk.choices:
            d = c.delta
            if d.content:
                d.content = self._pass((c.index, -1), d.content, False)
            for tc in d.tool_calls or ():
                fn = tc.function
                if fn is not None and isinstance(fn.get("arguments"), str) and fn["arguments"]:
                    fn["arguments"] = self._pass((c.index, tc.index), fn["arguments"], True)
            if c.finish_reason is not None and self._held:
                self._release(c.index, d)
        return chunk

    def flush(self) -> ChatChunk | None:
        """A last chunk with whatever is still held back (a stream that ended without
        a finish reason), or None."""
        if not self._held:
            return None
        choices = []
        for index in sorted({k[0] for k in self._held}):
            d = Delta()
            self._release(index, d)
            choices.append(ChunkChoice(index=index, delta=d))
        last = self._last
        return ChatChunk(id=last.id, created=last.created, model=last.model, choices=choices)
