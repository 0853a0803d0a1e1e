"""Support for the wire-coverage property test: adapters, recovery, values, requests.

The promise under test: whatever value an adapter puts on the wire, the policy
classified. This module builds each adapter's body bytes (no network), decides
whether a secret can be *recovered* from them — raw, JSON-unescaped, joined the
way the receiving model sees it, or after undoing Unicode disguises — and
generates detector-positive values in random fields, splits and encodings.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from router.config import load_dict
from router.errors import NoEligibleTarget
from router.policy import Decision, Policy
from router.providers import Endpoint, adapter_for
from router.types import ChatRequest

__all__ = [
    "ADAPTERS",
    "FIELDS",
    "KINDS",
    "Case",
    "cases",
    "decide",
    "haystacks",
    "is_confidential",
    "normalise",
    "recoverable",
    "wire_body",
]

# --- adapters ----------------------------------------------------------------

ADAPTERS: dict[str, tuple[str, Endpoint]] = {
    "openai_compatible": (
        "openai_compatible",
        Endpoint(base_url="https://llm.example/v1", model_id="m", api_key="k"),
    ),
    "anthropic": ("anthropic", Endpoint(base_url="", model_id="claude-x", api_key="k")),
    "gemini": ("gemini", Endpoint(base_url="", model_id="models/gemini-x", api_key="k")),
    "ollama": ("ollama", Endpoint(base_url="", model_id="llama3.2")),
    "azure_openai": (
        "azure_openai",
        Endpoint(base_url="https://res.openai.azure.com", model_id="dep", api_key="k"),
    ),
}


def wire_body(adapter: str, request: ChatRequest, *, stream: bool = False) -> bytes:
    """The body bytes ``adapter`` would POST for ``request`` (the executor's encoding).

    A fresh adapter each time: Gemini's remembered thought signatures stay out of it.
    Raises :class:`router.errors.RouterError` when the adapter refuses the request.
    """
    kind, endpoint = ADAPTERS[adapter]
    http = adapter_for(kind).build_request(endpoint, request, stream=stream)
    return json.dumps(
        http.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


# --- recovery ----------------------------------------------------------------

_WS = re.compile(r"\s+")


def normalise(text: str, *, fold: bool = False) -> str:
    """``text`` with the disguises a classifier must see through undone.

    NFKC (full-width forms, no-break spaces), every decimal digit as ASCII
    (Arabic-Indic and other scripts), format characters (zero-width spaces,
    joiners, BOM) removed, dashes (category Pd, the minus sign) as ``-``,
    whitespace runs as one space; case-folded when ``fold``.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out.append(str(digit))
        elif cat == "Pd" or ch == "\u2212":
            out.append("-")
        else:
            out.append(ch)
    joined = _WS.sub(" ", "".join(out))
    return joined.casefold() if fold else joined


def _scalar_text(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str | int | float):
        return str(v)
    return None


def _unescaped(s: str) -> Iterator[Any]:
    """What a JSON-aware reader makes of ``s``: the parsed document, or ``s`` unescaped."""
    stripped = s.strip()
    if stripped[:1] in ("{", "[", '"'):
        with contextlib.suppress(ValueError):
            yield json.loads(stripped)
    if "\\" in s:
        with contextlib.suppress(ValueError):
            yield json.loads(f'"{s}"')


def _collect(node: Any, out: list[str], depth: int) -> None:
    if isinstance(node, str):
        out.append(node)
        if depth < 4:
            for inner in _unescaped(node):
                _collect(inner, out, depth + 1)
    elif isinstance(node, list):
        # Sibling text blocks reach the model as one text: an OpenAI message's text
        # parts, an Anthropic turn's text blocks, a Gemini turn's parts.
        texts = [
            t
            for x in node
            if isinstance(x, dict) and "text" in x and (t := _scalar_text(x["text"])) is not None
        ]
        if len(texts) > 1:
            out.append("".join(texts))
        for x in node:
            _collect(x, out, depth)
    elif isinstance(node, dict):
        for k, v in node.items():
            _collect(k, out, depth)
            _collect(v, out, depth)
    elif (text := _scalar_text(node)) is not None:
        out.append(text)


def haystacks(body: bytes) -> list[str]:
    """Every text a reader of ``body`` can see.

    The raw body; every key and string value (recursively) and ``str()`` of
    every number; each string JSON-unescaped (a JSON document inside a string is
    parsed, ``\\u0040`` read as ``@``); each list's sibling text blocks joined.
    """
    raw = body.decode("utf-8")
    out = [raw]
    _collect(json.loads(raw), out, 0)
    return out


def recoverable(body: bytes, value: str, *, fold: bool = False) -> bool:
    """Whether ``value`` can be read back from ``body`` (see :func:`haystacks`)."""
    needle = normalise(value, fold=fold)
    return any(needle in normalise(h, fold=fold) for h in haystacks(body))


# --- policy ------------------------------------------------------------------

_ALL_CAPS = ["tools", "json_schema", "vision", "streaming"]


def _config() -> dict[str, Any]:
    """Default detectors and levels, one route over a frontier and a local target;
    confidential requests may not reach the frontier."""
    return {
        "providers": {
            "oa": {"kind": "openai", "api_key": "k", "region": "us"},
            "box": {"kind": "vllm", "base_url": "http://127.0.0.1:1/v1", "zone": "local"},
        },
        "models": {
            "gpt": {"provider": "oa", "model": "gpt-x", "capabilities": _ALL_CAPS},
            "local": {"provider": "box", "model": "local-x", "capabilities": _ALL_CAPS},
        },
        "rules": [
            {
                "name": "confidential-stays-home",
                "when": {"sensitivity": ">= confidential"},
                "deny": {"zone": ["frontier"]},
            }
        ],
        "routes": {"default": {"candidates": ["gpt", "local"]}},
    }


@cache
def policy() -> Policy:
    return Policy(load_dict(_config()))


def decide(request: ChatRequest) -> Decision:
    """The policy's decision (an empty plan still carries its decision)."""
    try:
        return policy().decide(request)
    except NoEligibleTarget as e:
        if e.decision is None:
            raise
        decision: Decision = e.decision
        return decision


def is_confidential(decision: Decision) -> bool:
    """At least confidential, and so (by the config's rule) no frontier target planned."""
    p = policy()
    level_ok = p.level_index(decision.sensitivity.level) >= p.level_index("confidential")
    return level_ok and all(t.zone != "frontier" for t in decision.plan)


# --- values ------------------------------------------------------------------

KINDS = ("us_ssn", "payment_card", "email", "iban", "credential")

_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = _UPPER + _UPPER.lower() + _DIGITS
_B64URL = _ALNUM + "_-"


def ssn_ok(s: str) -> bool:
    """US SSN structure, written here independently of the classifier."""
    d = "".join(c for c in s if c.isdigit())
    if len(d) != 9:
        return False
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    if area in (0, 666) or area >= 900 or group == 0 or serial == 0:
        return False
    return d not in {"078051120", "219099999", "123456789"}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    for d in _DIGITS:
        if luhn_ok(partial + d):
            return d
    raise AssertionError("unreachable")


def _iban_number(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def iban_of(country: str, bban: str) -> str:
    check = 98 - _iban_number(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


def iban_ok(s: str) -> bool:
    s = s.replace(" ", "").upper()
    return _iban_number(s[4:] + s[:4]) % 97 == 1


@st.composite
def ssns(draw: Any) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group, serial = draw(st.integers(1, 99)), draw(st.integers(1, 9999))
    sep = draw(st.sampled_from(["-", " "]))
    s = f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"
    if not ssn_ok(s):
        s = f"536{sep}22{sep}1234"
    return s


@st.composite
def cards(draw: Any) -> str:
    prefix = draw(st.sampled_from(["4", "51", "52", "53", "54", "55"]))
    body = draw(st.text(_DIGITS, min_size=15 - len(prefix), max_size=15 - len(prefix)))
    digits = prefix + body
    digits += luhn_check_digit(digits)
    groups = [digits[i : i + 4] for i in range(0, 16, 4)]
    return draw(st.sampled_from([digits, " ".join(groups), "-".join(groups)]))


@st.composite
def emails(draw: Any) -> str:
    local = draw(st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8})?", fullmatch=True))
    domain = draw(st.from_regex(r"[a-z]{2,10}", fullmatch=True))
    tld = draw(st.sampled_from(["com", "org", "net", "de", "io"]))
    return f"{local}@{domain}.{tld}"


@st.composite
def ibans(draw: Any) -> str:
    country = draw(st.sampled_from(["DE", "GB", "FR"]))
    if country == "DE":
        bban = draw(st.text(_DIGITS, min_size=18, max_size=18))
    elif country == "GB":
        bank = draw(st.text(_UPPER, min_size=4, max_size=4))
        bban = bank + draw(st.text(_DIGITS, min_size=14, max_size=14))
    else:
        bban = draw(st.text(_DIGITS, min_size=23, max_size=23))
    iban = iban_of(country, bban)
    if draw(st.booleans()):
        return iban
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


@st.composite
def credentials(draw: Any) -> str:
    def txt(alphabet: str, lo: int, hi: int | None = None) -> str:
        return str(draw(st.text(alphabet, min_size=lo, max_size=hi if hi is not None else lo)))

    shape = draw(st.sampled_from(["openai", "aws", "github", "jwt", "pem"]))
    if shape == "openai":
        return "sk-proj-" + txt(_ALNUM, 40)
    if shape == "aws":
        return "AKIA" + txt(_UPPER + _DIGITS, 16)
    if shape == "github":
        return "ghp_" + txt(_ALNUM, 36)
    if shape == "jwt":
        return f"eyJ{txt(_ALNUM, 10, 20)}.eyJ{txt(_ALNUM, 10, 30)}.{txt(_B64URL, 10, 43)}"
    label = draw(st.sampled_from(["", "RSA ", "EC ", "OPENSSH "]))
    return f"-----BEGIN {label}PRIVATE KEY-----"


VALUES: dict[str, st.SearchStrategy[str]] = {
    "us_ssn": ssns(),
    "payment_card": cards(),
    "email": emails(),
    "iban": ibans(),
    "credential": credentials(),
}


# --- encodings ---------------------------------------------------------------

_NAME_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def _digits_to(base: int) -> Callable[[str], str]:
    return lambda s: "".join(chr(base + int(c)) if c in _DIGITS else c for c in s)


_SIMPLE_ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "fullwidth_digits": _digits_to(0xFF10),
    "arabic_indic_digits": _digits_to(0x0660),
    "nbsp": lambda s: s.replace(" ", "\u00a0"),
    "tab": lambda s: s.replace(" ", "\t"),
    "en_dash": lambda s: s.replace("-", "\u2013"),
    "nb_hyphen": lambda s: s.replace("-", "\u2011"),
    "fullwidth_at": lambda s: s.replace("@", "\uff20"),
    "lower": str.lower,
}


def encodings_for(kind: str, value: str) -> list[str]:
    """The encodings that change ``value`` (plus ``plain``; ``int`` for a compact card)."""
    out = ["plain", "zwsp"]
    if any(c in _DIGITS for c in value):
        out += ["fullwidth_digits", "arabic_indic_digits"]
    if " " in value:
        out += ["nbsp", "tab"]
    if kind in ("us_ssn", "payment_card") and "-" in value:
        out += ["en_dash", "nb_hyphen"]
    if kind == "email":
        out.append("fullwidth_at")
    if kind == "iban":
        out.append("lower")
    if kind == "payment_card" and value.isdigit():
        out.append("int")
    return out


@st.composite
def encoded(draw: Any, kind: str, value: str, encoding: str) -> str | int:
    if encoding == "int":
        return int(value)
    if encoding == "zwsp":
        cuts = sorted(
            draw(st.lists(st.integers(1, len(value) - 1), min_size=1, max_size=3, unique=True))
        )
        pieces, last = [], 0
        for c in cuts:
            pieces.append(value[last:c])
            last = c
        pieces.append(value[last:])
        return "\u200b".join(pieces)
    return _SIMPLE_ENCODINGS[encoding](value)


def json_literal(value: str | int, escape: frozenset[int] = frozenset()) -> str:
    """``value`` as a JSON literal, the characters at ``escape`` written as ``\\uXXXX``."""
    if isinstance(value, int):
        return str(value)
    chars = [
        f"\\u{ord(c):04x}" if i in escape else json.dumps(c, ensure_ascii=False)[1:-1]
        for i, c in enumerate(value)
    ]
    return '"' + "".join(chars) + '"'


# --- requests ----------------------------------------------------------------

CALL_ID = "call_1"
BENIGN_PARAMS = {"type": "object", "properties": {"q": {"type": "string"}}}
BENIGN_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a record up.",
            "parameters": BENIGN_PARAMS,
        },
    }
]
BENIGN_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}
PREFIXES = ["ref", "Please check", "value:", "see"]
SUFFIXES = ["thanks", "ok", "(urgent)", "end"]
ROLES = ["user", "system", "assistant", "developer", "tool"]


def call(call_id: str = CALL_ID, arguments: str = "{}", name: str = "lookup") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def in_role(role: str, content: Any, **extra: Any) -> list[dict[str, Any]]:
    """Messages that carry ``content`` in a message of ``role`` (with what that role needs)."""
    msg = {"role": role, "content": content, **extra}
    if role == "tool":
        msg.setdefault("tool_call_id", CALL_ID)
        return [
            {"role": "user", "content": "Look it up."},
            {"role": "assistant", "content": None, "tool_calls": [call()]},
            msg,
        ]
    if role == "assistant":
        return [{"role": "user", "content": "Hi."}, msg]
    if role in ("system", "developer"):
        return [msg, {"role": "user", "content": "Hi."}]
    return [msg]


@dataclass
class Case:
    """One request with a secret somewhere in it, and how it got there."""

    kind: str
    value: str
    """The secret in its ASCII form (what a recovered text must contain)."""
    encoding: str
    field: str
    request: dict[str, Any] = field(repr=False)
    detail: str = ""

    @property
    def fold(self) -> bool:
        return self.kind == "iban"

    def chat_request(self) -> ChatRequest:
        return ChatRequest.model_validate(self.request)

    def describe(self) -> str:
        return (
            f"{self.kind} {self.value!r} encoding={self.encoding} field={self.field} "
            f"{self.detail}\nrequest={json.dumps(self.request, ensure_ascii=False)}"
        )


@dataclass
class _Build:
    """What a field builder returns: messages, parameters, a note for the report."""

    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


Builder = Callable[[Any, str | int, str], _Build]


def _wrap(draw: Any, v: str | int) -> str:
    return f"{draw(st.sampled_from(PREFIXES))} {v} {draw(st.sampled_from(SUFFIXES))}"


def _role(draw: Any, roles: list[str] = ROLES) -> str:
    return str(draw(st.sampled_from(roles)))


def b_content(draw: Any, v: str | int, plain: str) -> _Build:
    role = _role(draw)
    return _Build(in_role(role, _wrap(draw, v)), detail=f"role={role}")


def b_parts(draw: Any, v: str | int, plain: str) -> _Build:
    role = _role(draw)
    parts = [{"type": "text", "text": _wrap(draw, v)}]
    if draw(st.booleans()):
        parts.insert(0, {"type": "text", "text": "Please read this. "})
    if draw(st.booleans()):
        parts.append({"type": "text", "text": " Thanks."})
    return _Build(in_role(role, parts), detail=f"role={role}")


def b_part_extra(draw: Any, v: str | int, plain: str) -> _Build:
    role = _role(draw)
    extra: dict[str, Any] = draw(st.sampled_from([{"note": v}, {"meta": {"note": v}}]))
    part = {"type": "text", "text": "Please read this.", **extra}
    return _Build(in_role(role, [part]), detail=f"role={role} part={part}")


def b_part_text_int(draw: Any, v: str | int, plain: str) -> _Build:
    return _Build([{"role": "user", "content": [{"type": "text", "text": v}]}])


def b_image_url(draw: Any, v: str | int, plain: str) -> _Build:
    key = draw(st.sampled_from(["email", "card", "ssn", "iban", "token", "q"]))
    url = f"https://img.example/x.png?{key}={v}"
    parts = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return _Build([{"role": "user", "content": parts}])


def _tool(fn: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "lookup", **fn}}


def _hi() -> list[dict[str, Any]]:
    return [{"role": "user", "content": "Hi."}]


def b_tool_description(draw: Any, v: str | int, plain: str) -> _Build:
    tool = _tool({"description": _wrap(draw, v), "parameters": BENIGN_PARAMS})
    return _Build(_hi(), {"tools": [tool]})


def b_tool_param_description(draw: Any, v: str | int, plain: str) -> _Build:
    params = {
        "type": "object",
        "properties": {"q": {"type": "string", "description": _wrap(draw, v)}},
    }
    return _Build(_hi(), {"tools": [_tool({"parameters": params})]})


def b_tool_enum(draw: Any, v: str | int, plain: str) -> _Build:
    params = {"type": "object", "properties": {"q": {"enum": ["a", v]}}}
    return _Build(_hi(), {"tools": [_tool({"parameters": params})]})


def b_tool_property_name(draw: Any, v: str | int, plain: str) -> _Build:
    params = {"type": "object", "properties": {str(v): {"type": "string"}}}
    return _Build(_hi(), {"tools": [_tool({"parameters": params})]})


def b_tool_name(draw: Any, v: str | int, plain: str) -> _Build:
    tool = {"type": "function", "function": {"name": str(v), "parameters": BENIGN_PARAMS}}
    return _Build(_hi(), {"tools": [tool]})


def _rf(name: str = "answer", schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    spec = {"name": name, "schema": schema or BENIGN_SCHEMA, **extra}
    return {"type": "json_schema", "json_schema": spec}


def b_rf_name(draw: Any, v: str | int, plain: str) -> _Build:
    return _Build(_hi(), {"response_format": _rf(str(v))})


def b_rf_description(draw: Any, v: str | int, plain: str) -> _Build:
    return _Build(_hi(), {"response_format": _rf(description=_wrap(draw, v))})


def b_rf_schema_description(draw: Any, v: str | int, plain: str) -> _Build:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "description": _wrap(draw, v)}},
    }
    return _Build(_hi(), {"response_format": _rf(schema=schema)})


def b_rf_enum(draw: Any, v: str | int, plain: str) -> _Build:
    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", v]}}}
    return _Build(_hi(), {"response_format": _rf(schema=schema)})


def b_stop(draw: Any, v: str | int, plain: str) -> _Build:
    stop: str | list[str] = draw(st.sampled_from([str(v), ["END", str(v)]]))
    return _Build(_hi(), {"stop": stop})


def b_user(draw: Any, v: str | int, plain: str) -> _Build:
    return _Build(_hi(), {"user": str(v)})


def b_tool_choice(draw: Any, v: str | int, plain: str) -> _Build:
    choice = {"type": "function", "function": {"name": str(v)}}
    return _Build(_hi(), {"tools": BENIGN_TOOLS, "tool_choice": choice})


def b_tool_call_id(draw: Any, v: str | int, plain: str) -> _Build:
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [call(str(v))]},
        {"role": "tool", "content": "found", "tool_call_id": str(v)},
    ]
    return _Build(messages)


def _escapes(draw: Any, v: str | int) -> frozenset[int]:
    if isinstance(v, int) or not draw(st.booleans()):
        return frozenset()
    # Escape the characters detectors key on ('@', digits, '-') or any at all.
    keyed = [i for i, c in enumerate(v) if c == "@" or c == "-" or c.isdigit()]
    pool = keyed or list(range(len(v)))
    picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    return frozenset(picked)


def _json_object(draw: Any, v: str | int) -> tuple[str, str]:
    esc = _escapes(draw, v)
    literal = json_literal(v, esc)
    if isinstance(v, str) and draw(st.booleans()):
        return f'{{{literal}: "x"}}', f"as key, escaped={sorted(esc)}"
    return f'{{"q": {literal}, "n": 1}}', f"as value, escaped={sorted(esc)}"


def b_arguments(draw: Any, v: str | int, plain: str) -> _Build:
    arguments, detail = _json_object(draw, v)
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [call(arguments=arguments)]},
    ]
    if draw(st.booleans()):
        messages.append({"role": "tool", "content": "found", "tool_call_id": CALL_ID})
    return _Build(messages, detail=f"arguments={arguments} ({detail})")


def b_tool_result_json(draw: Any, v: str | int, plain: str) -> _Build:
    content, detail = _json_object(draw, v)
    return _Build(in_role("tool", content), detail=f"content={content} ({detail})")


def b_name(draw: Any, v: str | int, plain: str) -> _Build:
    role = _role(draw, ["user", "assistant", "tool"])
    return _Build(in_role(role, "Hello.", name=str(v)), detail=f"role={role}")


def _cut(draw: Any, v: str) -> tuple[str, str, int]:
    i = draw(st.integers(1, len(v) - 1))
    pre, suf = draw(st.sampled_from(PREFIXES)), draw(st.sampled_from(SUFFIXES))
    return f"{pre} {v[:i]}", f"{v[i:]} {suf}", i


def b_split_parts(draw: Any, v: str | int, plain: str) -> _Build:
    a, b, i = _cut(draw, str(v))
    role = _role(draw)
    parts = [{"type": "text", "text": a}, {"type": "text", "text": b}]
    return _Build(in_role(role, parts), detail=f"role={role} cut={i}")


def b_split_system(draw: Any, v: str | int, plain: str) -> _Build:
    a, b, i = _cut(draw, str(v))
    second = draw(st.sampled_from(["system", "developer"]))
    messages = [
        {"role": "system", "content": a},
        {"role": second, "content": b},
        {"role": "user", "content": "Hi."},
    ]
    return _Build(messages, detail=f"second={second} cut={i}")


def b_split_turns(draw: Any, v: str | int, plain: str) -> _Build:
    a, b, i = _cut(draw, str(v))
    role = _role(draw, ["user", "assistant"])
    messages = [{"role": role, "content": a}, {"role": role, "content": b}]
    if role == "assistant":
        messages.insert(0, {"role": "user", "content": "Hi."})
    return _Build(messages, detail=f"role={role} cut={i}")


TEXT_FIELDS: dict[str, Builder] = {
    "content": b_content,
    "parts": b_parts,
    "image_url": b_image_url,
    "tool_description": b_tool_description,
    "tool_param_description": b_tool_param_description,
    "rf_description": b_rf_description,
    "rf_schema_description": b_rf_schema_description,
    "stop": b_stop,
    "user": b_user,
    "tool_call_id": b_tool_call_id,
    "name": b_name,
    "split_parts": b_split_parts,
    "split_system": b_split_system,
    "split_turns": b_split_turns,
}
ANY_FIELDS: dict[str, Builder] = {
    "part_extra": b_part_extra,
    "tool_enum": b_tool_enum,
    "rf_enum": b_rf_enum,
    "arguments": b_arguments,
    "tool_result_json": b_tool_result_json,
    "tool_property_name": b_tool_property_name,
}
NAME_FIELDS: dict[str, Builder] = {
    "tool_name": b_tool_name,
    "tool_choice": b_tool_choice,
    "rf_name": b_rf_name,
}
INT_FIELDS: dict[str, Builder] = {"part_text_int": b_part_text_int}


FIELDS: dict[str, Builder] = {**TEXT_FIELDS, **ANY_FIELDS, **NAME_FIELDS, **INT_FIELDS}


def fits(name: str, v: str | int) -> bool:
    """Whether a value so encoded can go in field ``name`` (names must look like names)."""
    if isinstance(v, int):
        return (name in ANY_FIELDS and name != "tool_property_name") or name in INT_FIELDS
    if name in INT_FIELDS:
        return False
    if name in NAME_FIELDS:
        return _NAME_SAFE.fullmatch(v) is not None
    if name == "image_url":
        return not any(c.isspace() for c in v)
    return True


_NAME_KINDS = ("us_ssn", "payment_card", "iban", "credential")


@st.composite
def cases(draw: Any, name: str) -> Case:
    """A random request with a detector-positive value in field ``name``, with a random
    split (the split fields), encoding and surrounding request."""
    if name in INT_FIELDS:
        kind = "payment_card"
    else:
        kind = draw(st.sampled_from(_NAME_KINDS if name in NAME_FIELDS else KINDS))
    value = draw(VALUES[kind])
    if name in INT_FIELDS:
        value = "".join(c for c in value if c.isdigit())
    choices = encodings_for(kind, value)
    if name in INT_FIELDS:
        choices = ["int"]
    elif name in NAME_FIELDS:
        choices = [e for e in choices if e in ("plain", "lower")]
    elif name not in ANY_FIELDS:
        choices = [e for e in choices if e != "int"]
    encoding = draw(st.sampled_from(choices))
    v = draw(encoded(kind, value, encoding))
    assume(fits(name, v))
    built = FIELDS[name](draw, v, value)
    messages = built.messages
    params = dict(built.params)
    if draw(st.booleans()) and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": "You are a helpful assistant."}, *messages]
    if "tools" not in params and draw(st.booleans()):
        params["tools"] = BENIGN_TOOLS
    if draw(st.booleans()):
        params["temperature"] = 0.2
    if draw(st.booleans()):
        params["max_tokens"] = 256
    return Case(kind, value, encoding, name, {"messages": messages, **params}, built.detail)
