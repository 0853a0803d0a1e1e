"""Classification is fail-closed: every spelling, every field, every credential shape.

Each test routes through a config with one frontier and one local target and a
rule that keeps confidential data local, and asserts where the request would
go: the local target. ``tests/test_policy_wire_coverage.py`` checks the same
property against each adapter's wire body; this file pins the named cases.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import RequestError, Router
from router.config import load_dict
from router.policy import Policy
from router.policy import normalize as norm
from router.policy.canonical import JOIN_WINDOW, MAX_DEPTH, scan_texts
from router.policy.cards import card_digits_valid, card_spans
from router.policy.detectors import (
    BUILTIN_NAMES,
    CREDENTIAL_PATTERNS,
    builtin_detector,
    builtin_detectors,
)
from router.telemetry.redact import Redactor
from router.types import ChatRequest

SSN = "536-22-1234"
# 4111 1111 1111 1111 in full-width digits (U+FF10..U+FF19).
FULL_WIDTH_CARD = "4111 1111 1111 1111".translate({c: c + 0xFEE0 for c in range(48, 58)})
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"


def config(**sensitivity: Any) -> dict[str, Any]:
    return {
        "providers": {
            "gpu": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"},
            "openai": {"kind": "openai", "api_key": "sk-test-not-real"},
        },
        "models": {
            "local": {"provider": "gpu", "model": "llama"},
            "frontier": {"provider": "openai", "model": "gpt-4.1"},
        },
        "routes": {"default": {"candidates": ["frontier", "local"]}},
        "rules": [
            {
                "name": "confidential-stays-local",
                "when": {"sensitivity": ">= confidential"},
                "allow": {"zone": ["local"]},
            }
        ],
        "sensitivity": sensitivity,
    }


POLICY = Policy(load_dict(config()))


def target(messages: Any, **params: Any) -> str:
    """Where the request would go first."""
    request = ChatRequest.model_validate({"messages": messages, **params})
    return POLICY.decide(request).plan[0].name


def user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def test_plain_text_goes_to_the_frontier_and_the_control_case_holds() -> None:
    assert target(user("What is the capital of France?")) == "frontier"
    assert target(user(f"My SSN is {SSN}")) == "local"


# --- 1. every field a request carries --------------------------------------------

FIELDS: dict[str, tuple[Any, dict[str, Any]]] = {
    "tool description": (
        user("hi"),
        {"tools": [{"type": "function", "function": {"name": "f", "description": EMAIL}}]},
    ),
    "tool parameter schema": (
        user("hi"),
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {"type": "object", "properties": {"x": {"enum": [SSN]}}},
                    },
                }
            ]
        },
    ),
    "response_format": (
        user("hi"),
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "description": f"for {EMAIL}", "schema": {}},
            }
        },
    ),
    "stop": (user("hi"), {"stop": [SSN]}),
    "user": (user("hi"), {"user": EMAIL}),
    "tool_choice": (
        user("hi"),
        {"tool_choice": {"type": "function", "function": {"name": "sk_live_abcdefghijklmnop1"}}},
    ),
    "seed": (user("hi"), {"seed": 4111111111111111}),
    "image url query": (
        user([{"type": "image_url", "image_url": {"url": "https://x.test/a.png?e=jane%40ex.com"}}]),
        {},
    ),
    "extra key in a part": (user([{"type": "text", "text": "hi", "note": SSN}]), {}),
    "number in a part": (user([{"type": "text", "text": "hi", "n": 4111111111111111}]), {}),
    "tool call id": (
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": f"call {SSN}", "type": "function", "function": {"name": "f"}}
                ],
            },
        ],
        {},
    ),
    "tool_call_id": ([{"role": "tool", "content": "ok", "tool_call_id": EMAIL}], {}),
    "message name": ([{"role": "user", "content": "hi", "name": f"x{SSN}"}], {}),
}


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_is_scanned(field: str) -> None:
    messages, params = FIELDS[field]
    assert target(messages, **params) == "local"


def test_values_split_across_parts_are_scanned_joined() -> None:
    system = [
        {"type": "text", "text": "Customer SSN: 536-22-"},
        {"type": "text", "text": "1234"},
    ]
    assert target([{"role": "system", "content": system}, *user("hi")]) == "local"
    tool = [{"type": "text", "text": "card 4111 1111 "}, {"type": "text", "text": "1111 1111"}]
    assert target([{"role": "tool", "content": tool, "tool_call_id": "c1"}]) == "local"


def test_values_split_across_turns_an_adapter_merges_are_scanned() -> None:
    # Anthropic and Gemini merge consecutive user turns into one.
    assert target([*user("Customer SSN: 536-22-"), *user("1234 thanks")]) == "local"
    # Not merged by anyone: a system message and a user turn are apart on every wire.
    texts = scan_texts(
        ChatRequest.model_validate({"messages": [{"role": "system", "content": "a"}, *user("b")]})
    )
    assert texts == ["a", "b"]


def test_join_windows_reach_as_far_as_promised() -> None:
    far = "x" * (JOIN_WINDOW * 3)
    request = ChatRequest.model_validate(
        {"messages": [*user(far + " jane.doe@exa"), *user("mple.com " + far)]}
    )
    assert POLICY.decide(request).sensitivity.level == "confidential"


@pytest.mark.parametrize(
    "arguments",
    [
        '{"to": "jane.doe\\u0040example.com"}',
        '{"ssn": "\\u0035\\u0033\\u0036-22-1234"}',
        '{"card": "4111\\u00201111\\u00201111\\u00201111"}',
        '{"k": "\\u0073k-proj-abcdefghijklmnopqrstuvwxyz012345"}',
    ],
)
def test_escaped_tool_arguments_are_scanned_unescaped(arguments: str) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    assert target([*user("hi"), {"role": "assistant", "tool_calls": [call]}]) == "local"


def test_scan_texts_walks_structures_of_any_depth_without_recursion() -> None:
    # As deep as the limit allows: the SSN at the bottom is still found.
    deep: Any = SSN
    for _ in range((MAX_DEPTH - 8) // 2):
        deep = {"k": [deep]}
    schema = {"type": "object", "properties": {"x": deep}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    assert target(user("hi"), tools=tools) == "local"


def test_structures_nested_past_the_limit_are_a_clear_error_not_a_crash() -> None:
    # An attacker's tool schema nested thousands deep: refused with the field's
    # path, before any JSON encoder recurses into it (and in linear time).
    deep: Any = SSN
    for _ in range(20_000):
        deep = {"k": [deep]}
    tools = [{"type": "function", "function": {"name": "f", "parameters": deep}}]
    with pytest.raises(RequestError, match=f"nested deeper than {MAX_DEPTH} levels") as e:
        target(user("hi"), tools=tools)
    assert e.value.field is not None and e.value.field.startswith(
        "tools[0].function.parameters.k[0]"
    )
    assert SSN not in str(e.value)


# --- 2. every spelling ---------------------------------------------------------------

VARIANTS = {
    "full-width digits": "card " + FULL_WIDTH_CARD,
    "arabic-indic digits": "ssn \u0665\u0663\u0666-\u0662\u0662-\u0661\u0662\u0663\u0664",
    "devanagari digits": "ssn \u096b\u0969\u096c-\u0968\u0968-\u0967\u0968\u0969\u096a",
    "zero-width space": "ssn 536-22-\u200b1234",
    "zero-width joiner in email": "jane.doe\u200d@example.com",
    "soft hyphen": "4111\u00ad1111\u00ad1111\u00ad1111",
    "bidi controls": "ssn \u202e536-22-1234\u202c",
    "no-break spaces": "card 4111\u00a01111\u00a01111\u00a01111",
    "narrow no-break spaces": "card 4111\u202f1111\u202f1111\u202f1111",
    "tabs": "card 4111\t1111\t1111\t1111",
    "runs of spaces": "card 4111   1111   1111   1111",
    "line breaks": "card 4111\n1111\r\n1111\n1111",
    "en dashes": "ssn 536\u201322\u20131234",
    "em dashes": "ssn 536\u201422\u20141234",
    "non-breaking hyphens": "ssn 536\u201122\u20111234",
    "minus signs": "ssn 536\u221222\u22121234",
    "lower-case iban": "iban de89 3704 0044 0532 0130 00",
    "full-width at": "jane.doe\uff20example.com",
    "small at": "jane.doe\ufe6bexample.com",
    "internationalised domain": "jane@m\u00fcller.de",
    "unicode local part": "j\u00fcrgen@example.com",
    "mathematical digits": "ssn \U0001d7d3\U0001d7d1\U0001d7d4-22-1234",
    "circled digits": "ssn \u2464\u2462\u2465-22-1234",
    "combining marks on digits": "ssn 5\u03323\u03326\u0332-22-1234",
    "stacked combining marks on digits": "card "
    + "".join(d + "\u0300\u1ab0" for d in "4111111111111111"),
    "a mark behind a format character": "ssn 5\u200d\u03323\u200d\u03326-22-1234",
    "tag characters": "ssn " + "".join(chr(0xE0000 + ord(c)) for c in SSN),
    "variation selectors": "ssn 5\ufe0f36-22-1234",
    "full-width credential": "\uff53\uff4b-proj-abcdefghijklmnopqrstuvwxyz0123",
    "html reference": "jane.doe&#64;example.com",
    "percent encoding": "mailto:jane.doe%40example.com",
    "nul between digits": "ssn 536-22-\x001234",
}


@pytest.mark.parametrize("name", VARIANTS)
def test_unicode_and_encoding_variants_stay_local(name: str) -> None:
    assert target(user(VARIANTS[name])) == "local", name


def test_keywords_match_across_whitespace_and_width() -> None:
    policy = Policy(
        load_dict(
            config(
                detect=[
                    {"detector": "keywords", "keywords": ["Night Owl"], "level": "restricted"},
                    {"detector": "regex", "pattern": "SECRET-[0-9]+", "level": "restricted"},
                ]
            )
        )
    )

    def level(text: str) -> str:
        req = ChatRequest.model_validate({"messages": user(text)})
        return policy.decide(req).sensitivity.level

    for text in (
        "project night owl",
        "project Night\n\t  Owl",
        "project \uff2e\uff49\uff47\uff48\uff54 \uff2f\uff57\uff4c",
        "project night\u00a0owl",
        "project ni\u200bght owl",
    ):
        assert level(text) == "restricted", text
    assert level("the night is owlish") == "internal"
    # The lower-case prefilter does not hide what the regex engine's case folding finds.
    assert level("\u017fECRET-1") == "restricted"
    assert level("secret-42") == "restricted"
    assert level("\u212aELVIN SECRET-7") == "restricted"


def test_normalize_is_what_the_docstring_says() -> None:
    n = norm.normalize
    assert n("a \t\n b") == "a b"
    assert n("\uff14\uff11") == "41"
    assert n("\u0664\u0661") == "41"
    assert n("a\u200bb\u00adc") == "abc"
    assert n("5\u2013\u20116") == "5--6"
    assert n("\U000e0061\U000e0062") == "ab"
    assert n("caf\u00e9") == "caf\u00e9"  # letters of other scripts keep their marks
    assert n("x\x00y\x07z") == "xyz"
    assert n("plain ascii") == "plain ascii"


def _unicode(pred: Any) -> set[int]:
    return {c for c in range(sys.maxunicode + 1) if pred(chr(c))}


def _listed(spec: str) -> set[int]:
    out: set[int] = set()
    for m in re.finditer(r"(.)(?:-(.))?", spec, re.DOTALL):
        lo, hi = m.group(1), m.group(2) or m.group(1)
        out.update(range(ord(lo), ord(hi) + 1))
    return out


def test_normalize_character_lists_match_this_interpreters_unicode() -> None:
    cf = _unicode(lambda ch: unicodedata.category(ch) == "Cf")
    assert _listed(norm._CF) | _listed(norm._CF_ASTRAL) >= cf
    dashes = _unicode(lambda ch: unicodedata.category(ch) == "Pd")
    survivors = {c for c in dashes if unicodedata.normalize("NFKC", chr(c)) != "-"}
    assert _listed(norm._DASHES) >= survivors
    spaces = _unicode(lambda ch: ch.isspace() and unicodedata.normalize("NFKC", ch) != " ")
    assert _listed(norm._SPACE) >= spaces
    # Every astral format character is caught by the UTF-8 prefix test.
    for c in _listed(norm._CF_ASTRAL):
        encoded = chr(c).encode()
        assert any(encoded.startswith(p) for p in norm._CF_ASTRAL_UTF8), hex(c)


def test_normalize_is_idempotent_on_stacked_marks() -> None:
    # Found by the property below: the second mark of a stack was judged by the
    # first (kept), then dropped by a second normalisation.
    for text in ("0\u0300\u1ab0", "5\u200d\u0332", "\u00f8\u200d\u0301"):
        once = norm.normalize(text)
        assert norm.normalize(once) == once, repr(text)


def test_long_runs_of_marks_and_format_characters_hide_nothing() -> None:
    # Size probe: thousands of marks (and format characters between them) on
    # every digit are dropped in one pass each, and the number is still found.
    hidden = "".join(d + "\u200d\u0300\u1ab0" * 500 for d in "4111111111111111")
    once = norm.normalize(hidden)
    assert once == "4111111111111111"
    assert norm.normalize(once) == once
    assert target(user(f"card {hidden}")) == "local"


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent(text: str) -> None:
    once = norm.normalize(text)
    assert norm.normalize(once) == once
    assert "  " not in once


# --- 3. credentials ---------------------------------------------------------------

CREDENTIALS = [
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "rk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "rk-abcdefghij1234567890",
    "pk-lf-1234567890abcdef1234",
    "AKIAIOSFODNN7EXAMPLE",
    "AWS_KEY_AKIAIOSFODNN7EXAMPLE",
    "OPENAI_KEY=sk-abcdefghijklmnopqrstuvwxyz12",
    "token:sk-abcdefghijklmnopqrstuvwxyz12",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "xoxb-1234567890-abcdefghij",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    "Authorization: Bearer abc123def456ghi789jkl",
    "authorization: bearer abc123def456ghi789jkl",
    "Authorization: Basic dXNlcjpwYXNzd29yZA==",
    "curl -H 'Authorization: Token 9f8e7d6c5b4a39281706'",
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "postgres://admin:hunter2@db.internal:5432/app",
]


@pytest.mark.parametrize("secret", CREDENTIALS)
def test_credential_shapes_stay_local_and_are_redacted(secret: str) -> None:
    assert target(user(f"use {secret} please")) == "local", secret
    out = Redactor([])(f"use {secret} please")
    assert "[CREDENTIAL]" in out
    core = secret.rpartition(" ")[2].rpartition("=")[2].rpartition(":")[2]
    if len(core) >= 12:
        assert core not in out


@pytest.mark.parametrize(
    "text",
    [
        "the bearer of bad news arrived",
        "basic understanding of the topic",
        "Authorization: required for every endpoint",
        "a pk-primary-key-column-name here",
        "sk-learn is a library",
        "visit https://example.com/path",
    ],
)
def test_credential_look_alikes_are_not_credentials(text: str) -> None:
    assert list(builtin_detector("credential").finditer(text)) == [], text


def test_one_list_of_credential_shapes_serves_detection_and_redaction() -> None:
    # The redactor owns no patterns: every shape it knows is the policy's.
    import router.telemetry.redact as redact

    assert not [n for n in vars(redact) if n.startswith("_CREDENTIAL")]
    assert {c.what for c in CREDENTIAL_PATTERNS} >= {"jwt", "private key", "stripe key"}


def test_private_key_block_is_redacted_to_its_end_line() -> None:
    pem = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----"
    assert Redactor([])(f"key: {pem} done") == "key: [CREDENTIAL] done"
    # Without an END line, everything after the header is hidden.
    assert Redactor([])("key: -----BEGIN PRIVATE KEY----- MIIEvQ tail") == "key: [CREDENTIAL]"


# --- 4. linear time, structurally ------------------------------------------------------

MAX_BOUND = 4096


def _walk(items: Any, where: str, problems: list[str]) -> None:
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as p  # type: ignore[attr-defined]

    for op, arg in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, high, sub = arg
            if high == c.MAXREPEAT and op != c.POSSESSIVE_REPEAT:
                problems.append(f"{where}: unbounded repeat that backtracks")
            if high != c.MAXREPEAT and high > MAX_BOUND:
                problems.append(f"{where}: repeat bound {high} > {MAX_BOUND}")
            if low > 64:
                problems.append(f"{where}: repeat needs {low} > 64 items")
            _walk(sub, where, problems)
        elif op == c.SUBPATTERN:
            _walk(arg[3], where, problems)
        elif op == c.BRANCH:
            for b in arg[1]:
                _walk(b, where, problems)
        elif op in (c.ASSERT, c.ASSERT_NOT, c.ATOMIC_GROUP):
            _walk(arg[1] if op != c.ATOMIC_GROUP else arg, where, problems)
        elif op == c.GROUPREF_EXISTS:
            raise AssertionError(f"{where}: conditional groups are not allowed")
        elif isinstance(arg, p.SubPattern):
            _walk(arg, where, problems)


def _starts_anchored(items: Any) -> bool:
    """A match starts at a literal, or its first items include a lookbehind that
    rejects starts inside a run another start already covers."""
    from re import _constants as c  # type: ignore[attr-defined]

    items = list(items)
    if not items:
        return True
    op, arg = items[0]
    if op == c.LITERAL:
        return True
    if op == c.SUBPATTERN:
        return _starts_anchored(list(arg[3]) + items[1:])
    if op == c.BRANCH:
        return all(_starts_anchored(list(b) + items[1:]) for b in arg[1])
    return any(o in (c.ASSERT_NOT, c.ASSERT) and a[0] == -1 for o, a in items[:8])


def builtin_patterns() -> list[tuple[str, re.Pattern[Any]]]:
    from router.policy import detectors as d

    out: list[tuple[str, re.Pattern[Any]]] = []
    for name, det in builtin_detectors().items():
        for i, part in enumerate(det.parts or (det,)):
            out.append((f"{name}[{i}]", part.pattern))
            if part.window is not None:
                out.append((f"{name}[{i}].window", part.window))
    if builtin_detector("credential").block is not None:
        out.append(("credential.block", builtin_detector("credential").block[1]))  # type: ignore[index]
    out.append(("card groups", d._DIGIT_GROUP))
    for name in ("_ODD", "_ODD_BMP", "_DIGIT", "_JSON_ESCAPE", "_PERCENT_ESCAPE"):
        out.append((f"normalize.{name}", getattr(norm, name)))
    out.append(("national_id", d._national_id(None, None, "k").pattern))
    return out


@pytest.mark.parametrize("name,pattern", builtin_patterns(), ids=lambda v: str(v)[:40])
def test_builtin_patterns_run_in_linear_time(name: str, pattern: re.Pattern[Any]) -> None:
    from re import _parser as p  # type: ignore[attr-defined]

    tree = p.parse(pattern.pattern, pattern.flags)
    problems: list[str] = []
    _walk(tree, name, problems)
    assert problems == []
    if name.startswith(("normalize.", "card groups")) or name.endswith(".window"):
        return  # single classes or literal-led: one attempt per position, no run to rescan
    assert _starts_anchored(tree), f"{name}: no left boundary"


def test_card_spans_match_a_brute_force_reading() -> None:
    rng = random.Random(7812)
    for _ in range(400):
        groups = [
            "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
            for _ in range(rng.randint(1, 8))
        ]
        if rng.random() < 0.5:
            groups[rng.randrange(len(groups))] = "4111111111111111"
        expected, i = [], 0
        while i < len(groups):
            best = None
            for j in range(i, len(groups)):
                digits = "".join(groups[i : j + 1])
                if len(digits) > 19:
                    break
                if card_digits_valid(digits):
                    best = j
            if best is None:
                i += 1
            else:
                expected.append((i, best))
                i = best + 1
        assert card_spans(groups) == expected, groups


# --- 6. error text never carries content ---------------------------------------------------


def test_a_malformed_message_names_the_field_and_not_the_value() -> None:
    r = Router(config())
    bad = [
        [{"role": "user", "content": [{"type": "text", "text": 5}], "extra": SSN}],
        [{"role": "wizard", "content": f"SSN {SSN}"}],
        [{"role": "user", "content": {"ssn": SSN}}],
    ]
    for messages in bad:
        with pytest.raises(RequestError) as e:
            r.explain(messages)
        assert SSN not in str(e.value) and "536" not in repr(e.value)
        assert "messages[0]" in str(e.value)
        assert e.value.__cause__ is None and e.value.__suppress_context__
    with pytest.raises(RequestError) as ctx:
        r.explain(user("hi"), context={"tenant": 536221234})
    assert "536221234" not in str(ctx.value) and "context.tenant" in str(ctx.value)


def test_a_lone_surrogate_is_a_clear_error_before_any_send() -> None:
    for messages, field in [
        (user(f"SSN {SSN}\ud800"), "messages[0].content"),
        (user([{"type": "text", "text": "a\udc00"}]), "messages[0].content[0].text"),
    ]:
        with pytest.raises(RequestError) as e:
            target(messages)
        assert e.value.field == field and SSN not in str(e.value)
    with pytest.raises(RequestError) as e2:
        target(user("hi"), stop=["\ud83d"])
    assert e2.value.field == "stop[0]"


# --- 7. spans ------------------------------------------------------------------------------


def test_the_redactor_uses_the_same_normalised_detection() -> None:
    r = Redactor.for_sensitivity(load_dict(config()).sensitivity)
    assert r("card " + FULL_WIDTH_CARD + " ok") == "card [CARD] ok"
    assert r('{"to": "jane.doe\\u0040example.com"}') == '{"to": "[EMAIL]"}'
    assert r("ssn 536\u201322\u20131234") == "ssn [SSN]"
    assert r("nothing\n\tto  hide") == "nothing\n\tto  hide"  # kept as written


def test_every_builtin_detector_is_named() -> None:
    assert set(builtin_detectors()) == set(BUILTIN_NAMES)


def test_windows_merge_so_many_short_parts_cost_their_length() -> None:
    parts = [{"type": "text", "text": c} for c in itertools.islice(itertools.cycle(SSN), 2000)]
    messages = [{"role": "user", "content": [p]} for p in parts]
    texts = scan_texts(ChatRequest.model_validate({"messages": messages}))
    windows = texts[len(parts) : -1]  # the last text is the structural strings
    assert sum(map(len, windows)) <= 2000 + 2 * JOIN_WINDOW


def test_an_unknown_declared_level_is_the_callers_mistake_not_a_denial(tmp_path: Any) -> None:
    audit = tmp_path / "audit.jsonl"
    cfg = config()
    cfg["telemetry"] = {"audit_log": str(audit)}
    with Router(cfg) as r:
        with pytest.raises(RequestError, match="levels: public, internal") as e:
            r.chat(user("hi"), context={"sensitivity": "secret"})
        assert isinstance(e.value, ValueError)
        # A real denial is recorded; the caller's mistake is not.
        with pytest.raises(Exception, match="no eligible target"):
            r.chat(user(f"SSN {SSN}"), model="frontier")
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["denied"]


def test_an_error_path_never_quotes_a_key_that_is_data() -> None:
    # Keys of a tool schema are the caller's text: one that is not a plain field
    # name (an SSN, an email, a long token) is not spelled out in the error.
    for key in (SSN, EMAIL, "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "acct_12345678"):
        schema = {"type": "object", "properties": {key: {"description": "a\ud800"}}}
        tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
        with pytest.raises(RequestError) as e:
            target(user("hi"), tools=tools)
        assert key not in str(e.value) and ".{…}" in str(e.value), key
    schema = {"type": "object", "properties": {"city": {"description": "a\ud800"}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    with pytest.raises(RequestError, match=r"properties\.city\.description"):
        target(user("hi"), tools=tools)
    # The same for a key a caller slipped into a content part.
    with pytest.raises(RequestError) as part:
        target(user([{"type": "text", "text": "hi", SSN: "a\ud800"}]))
    assert SSN not in str(part.value) and "messages[0].content[0].{…}" in str(part.value)


@pytest.mark.parametrize(
    "text",
    ["mail jane.doe&#64example.com", "jane.doe&#64example.com now", "a&#64b.example.org"],
)
def test_html_references_without_a_semicolon_are_decoded(text: str) -> None:
    # "&#64" with no ";" reads as "@" in a browser and in html.unescape: it was found
    # only when some ";" elsewhere in the text triggered the HTML decoding.
    cfg = {
        "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1", "zone": "local"}},
        "models": {"m": {"provider": "p", "model": "x"}},
        "routes": {"default": {"candidates": ["m"]}},
    }
    with Router(cfg) as r:
        d = r.explain([{"role": "user", "content": text}])
    assert d.sensitivity.detectors == {"email": 1}
