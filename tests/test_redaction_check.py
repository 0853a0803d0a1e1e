"""The fail-closed check's shortcuts give the verdict a full re-scan gives.

The engine scans a text redaction rewrote without looking up its digest, and,
when it is provably its own only form (:func:`router.policy.engine._own_form`),
without normalising or decoding it, and only when a placeholder may have made
a match (:func:`router.policy.detectors.count_after_redaction`). These
properties compare each against the long way, on random texts with random spans.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import load_dict
from router.policy import Policy
from router.policy import engine as engine_mod
from router.policy.detectors import builtin_detector, count_after_redaction, scan_forms
from router.policy.engine import _own_form
from router.policy.normalize import normalize
from router.policy.redaction import PLACEHOLDER
from router.types import ChatRequest

# Pieces that exercise what normalising and decoding change: spaces and their
# runs, tabs and line breaks, control characters, escapes, entities, percent
# signs, full-width and zero-width characters, digits, at signs, placeholders.
_PIECES = [
    "a",
    "Z",
    "0",
    "7",
    " ",
    "  ",
    "\t",
    "\n",
    "\x01",
    "\x7f",
    "\\",
    "\\u0040",
    "%",
    "%40",
    "&",
    "&#64;",
    "@",
    ".",
    "-",
    "+",
    "(",
    "[EMAIL_1]",
    "\uff20",
    "\u200b",
    "\u0661",
    "\u0301",
    "é",
    "x@y.io",
    "+14155550123",
    "jane.doe@example.com",
    "z@b.co.",  # its domain runs into what follows: only a placeholder ends it
    "030 1234567",
    "j\\u0040example.com",
    "j%40example.com",
    "j&#64;example.com",
]
_PLACEHOLDERS = ["[EMAIL_1]", "[PHONE_2]", "[EMAIL_3]", "[X_9]"]


def _policy() -> Policy:
    return Policy(
        load_dict(
            {
                "providers": {
                    "oa": {
                        "kind": "openai",
                        "base_url": "http://127.0.0.1:9/v1",
                        "api_key": "k-test",
                        "zone": "frontier",
                    },
                    "box": {"kind": "vllm", "base_url": "http://127.0.0.1:8/v1", "zone": "local"},
                },
                "models": {
                    "cloud": {"provider": "oa", "model": "m"},
                    "local": {"provider": "box", "model": "s"},
                },
                "sensitivity": {
                    "detect": [
                        {"detector": "email", "level": "confidential"},
                        {"detector": "phone", "level": "confidential"},
                        {"detector": "payment_card", "level": "confidential"},
                    ]
                },
                "rules": [
                    {
                        "name": "pii-out",
                        "redact": {"detectors": ["email", "phone"], "zones": ["frontier"]},
                    },
                    {
                        "name": "home",
                        "when": {"sensitivity": ">= confidential"},
                        "allow": {"zone": ["local"]},
                    },
                ],
                "routes": {"default": {"candidates": ["cloud", "local"]}},
            }
        )
    )


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=14),
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 12)), max_size=4),
    st.lists(st.sampled_from(_PLACEHOLDERS), min_size=4, max_size=4),
)
def test_a_text_claimed_as_its_own_only_form_is_what_scan_forms_says(
    pieces: list[str], cuts: list[tuple[int, int]], phs: list[str]
) -> None:
    text = "".join(pieces)
    found: dict[int, Any] = {}
    _policy().classify([text], found)  # found holds text iff it is its own normal form
    # Random non-overlapping, non-empty spans of the text, each replaced by a placeholder.
    red, pos = [], 0
    for (start, size), ph in zip(sorted(cuts), phs, strict=False):
        a = max(start, pos)
        b = min(a + size, len(text))
        if a >= b:
            continue
        red += [text[pos:a], ph]
        pos = b
    red.append(text[pos:])
    redacted = "".join(red)
    if _own_form(redacted, text, found):
        assert scan_forms(redacted, raw=True) == [(redacted, True)]
        assert scan_forms(redacted, raw=False) == [(redacted, True)]


def test_prose_redacted_in_place_takes_the_shortcut() -> None:
    text = "write to jane.doe@example.com or call +14155550123 today"
    found: dict[int, Any] = {}
    _policy().classify([text], found)
    redacted = "write to [EMAIL_1] or call [PHONE_1] today"
    assert _own_form(redacted, text, found)
    # A decoded form, a text that was not its own normal form: the long way.
    assert not _own_form("a \\u0040 [EMAIL_1]", text, found)
    assert not _own_form(redacted, "write  to", found)


# Texts in their own normal form (ASCII, single spaces) made of what the email and
# phone detectors look at: runs of digits and separators, domain and local-part
# characters, at signs, long runs, brackets.
_ASCII_PIECES = [
    "a",
    "Zz",
    "_",
    "0",
    "55",
    "1234567",
    "(555) 123-4567",
    "+1",
    "+14155550123",
    "030 1234567",
    " ",
    ".",
    "-",
    "/",
    "(",
    ")",
    "+",
    "@",
    "x@y.io",
    "jane.doe@example.com",
    "z@b.co.",
    "b.co",
    "!#$",
    "[",
    "]",
    "[EMAIL_1]",
    "k" * 40,
    "m.n-" * 20,
    "9" * 30,
    "- " * 40,
    "k@" + "ab." * 30 + "9",
    "a@b.co+14155550123",  # a phone number the email's placeholder uncovers
    "k" * 63 + "x@y.io",  # a local part of 64 characters: the span starts at its first
]


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.sampled_from(_ASCII_PIECES), max_size=16),
    st.sampled_from([("email",), ("phone",), ("email", "phone")]),
)
def test_no_match_is_missed_by_looking_around_placeholders(
    pieces: list[str], names: tuple[str, ...]
) -> None:
    from router.policy.redaction import Rewritten, redact_request

    text = normalize("".join(pieces))  # its own normal form, as the shortcut requires
    detectors = tuple(builtin_detector(n) for n in names)
    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": text}]})
    rewritten: dict[int, Rewritten] = {}
    out, _, counts, _ = redact_request(request, detectors, {}, None, rewritten)
    if not rewritten:
        return
    (red,) = rewritten.values()
    assert out.messages[0].content is red.text and red.was == text
    # Where the redaction says its placeholders are, they are.
    assert len(red.placeholders) == sum(counts.values())
    assert all(PLACEHOLDER.fullmatch(red.text[a:b]) for a, b in red.placeholders)
    assert builtin_detector("phone").uncovers is not None  # the shortcut is on
    for det in detectors:  # every match of det was replaced: the shortcut applies
        assert count_after_redaction(det, red.text, red.placeholders) == det.count(red.text)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # In "b.co.030" the domain ends in digits; the phone's placeholder ends it at "co".
        ("mail z@b.co.030 1234567", "email"),
        # After a letter no phone number starts; after the email's placeholder one does.
        ("mail a@b.co+14155550123", "phone"),
        # A phone number ends before a letter, not before a placeholder: an email's
        # local part (64 characters at most) can leave one just before its own.
        ("call +14155550123" + "k" * 63 + "x@y.io", "phone"),
    ],
)
def test_a_match_a_placeholder_uncovers_fails_closed(text: str, found: str) -> None:
    d = _policy().decide(
        ChatRequest.model_validate({"messages": [{"role": "user", "content": text}]})
    )
    assert d.target_names == ("local",)
    assert f"{found} still found after redacting" in d.excluded["cloud"][0]


def _verdict(policy: Policy, messages: list[dict[str, Any]]) -> tuple[Any, ...]:
    d = policy.decide(ChatRequest.model_validate({"messages": messages}))
    red = d.redaction
    return (
        d.target_names,
        dict(d.excluded),
        None if red is None else (dict(red.detectors), red.request.model_dump(), dict(red.values)),
    )


_CONTENT = st.lists(st.sampled_from(_PIECES + _ASCII_PIECES), max_size=10).map("".join)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.one_of(
            _CONTENT,
            st.lists(_CONTENT, min_size=1, max_size=3),  # content parts (joined on the wire)
        ),
        min_size=1,
        max_size=3,
    )
)
def test_the_decision_is_the_full_rescans(contents: list[str | list[str]]) -> None:
    messages = [
        {
            "role": "user",
            "content": c if isinstance(c, str) else [{"type": "text", "text": t} for t in c],
        }
        for c in contents
    ]
    fast = _verdict(_policy(), messages)
    # The long way: every form computed, every named detector scanning the whole text.
    with mock.patch.object(engine_mod, "_own_form", lambda *_: False):
        slow = _verdict(_policy(), messages)
    assert fast == slow


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), _CONTENT),
        min_size=1,
        max_size=4,
    ),
    st.one_of(st.none(), _CONTENT),
    st.one_of(st.none(), st.sampled_from([0.0, 0.7])),
)
def test_the_redacted_texts_are_those_a_walk_of_the_redacted_request_finds(
    turns: list[tuple[str, str]], user: str | None, temperature: float | None
) -> None:
    # Turns of other roles are not joined: the check reads the redacted contents
    # without walking the redacted request again, unless another string (the
    # user field) was redacted too. Same verdict as the long way every time.
    body: dict[str, Any] = {"messages": [{"role": r, "content": c} for r, c in turns]}
    if user is not None:
        body["user"] = user
    if temperature is not None:
        body["temperature"] = temperature

    def verdict() -> tuple[Any, ...]:
        d = _policy().decide(ChatRequest.model_validate(body))
        red = d.redaction
        return (
            d.target_names,
            dict(d.excluded),
            None if red is None else (red.request.model_dump(), dict(red.values)),
        )

    fast = verdict()
    with (
        mock.patch.object(engine_mod, "_own_form", lambda *_: False),
        mock.patch.object(engine_mod, "_relaid", lambda *_: None),
    ):
        slow = verdict()
    assert fast == slow


def _walk_uncovers(text: str, placeholders: list[tuple[int, int]]) -> bool:
    """The phone test the long way: walk every run character by character."""
    run = frozenset("0123456789 .()/+-")
    size = len(text)
    for p, q in placeholders:
        i = p - 1
        stop = max(-1, i - 64)
        while i > stop and text[i] in run:
            if text[i].isdigit():
                return True
            i -= 1
        if i == stop and i >= 0:
            return True
        j = q if q < size and text[q] in run else q + 1
        end = min(size, j + 64)
        while j < end and text[j] in run:
            if text[j].isdigit():
                return True
            j += 1
        if j == end and end < size:
            return True
    return False


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(_ASCII_PIECES), max_size=16))
def test_the_phone_test_walks_runs_as_the_character_walk_does(pieces: list[str]) -> None:
    from router.policy.redaction import Rewritten, redact_request

    text = normalize("".join(pieces))
    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": text}]})
    rewritten: dict[int, Rewritten] = {}
    redact_request(request, (builtin_detector("email"),), {}, None, rewritten)
    for red in rewritten.values():
        phone = builtin_detector("phone")
        assert phone.uncovers is not None
        assert phone.uncovers(red.text, red.placeholders) == _walk_uncovers(
            red.text, red.placeholders
        )


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.sampled_from(["", "5", "a", "x5", "[EMAIL_1]", "+1 415"]), max_size=2).map("".join),
    st.integers(0, 70),
    st.sampled_from([" ", "-", " .", "()/+"]),
    st.integers(0, 70),
    st.sampled_from([" ", ".", "- "]),
    st.lists(st.sampled_from(["", "5", "a", "a5", "x", "]", "[PHONE_2]"]), max_size=2).map("".join),
)
def test_the_phone_test_reads_near_a_placeholder_what_the_walk_reads(
    before: str, left: int, left_sep: str, right: int, right_sep: str, after: str
) -> None:
    # Separators from none to past the walk's 64 on each side, the text's ends
    # right there or not: the test and the character walk always agree.
    from router.policy.detectors import _phone_uncovers

    head = before + (left_sep * left)[:left]
    text = head + "[PHONE_1]" + (right_sep * right)[:right] + after
    spots = [(len(head), len(head) + 9)]
    assert _phone_uncovers(text, spots) == _walk_uncovers(text, spots)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.sampled_from(_PIECES + _ASCII_PIECES), max_size=8).map("".join),
    st.sampled_from(["user", "assistant", "tool"]),
    st.booleans(),
)
def test_the_redacted_request_is_what_model_copy_makes(
    content: str, role: str, named: bool
) -> None:
    from router.policy.redaction import _replace

    msg: dict[str, Any] = {"role": role, "content": content}
    if named:
        msg["name"] = "n"
    req = ChatRequest.model_validate({"messages": [msg], "temperature": 0.5})
    m = req.messages[0]
    for model, update in ((m, {"content": "[EMAIL_1]"}), (req, {"messages": [m, m]})):
        fast, slow = _replace(model, update), model.model_copy(update=update)  # type: ignore[arg-type]
        assert type(fast) is type(slow)
        assert fast == slow
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump() == slow.model_dump()
        assert fast is not model
