"""Whatever an adapter puts on the wire was classified.

A request classified below confidential may reach a frontier target, so every
detector-positive value an adapter sends — in any field, split across the
parts or turns the adapter joins, JSON-escaped, or disguised with Unicode a
normaliser undoes — must raise the decision to at least the detector's level
(``confidential`` for the default detectors).

The property test (one per adapter and field, so each failure names both)
draws a value, an encoding, a split and a surrounding request, builds the
adapter's body bytes and, whenever the value is recoverable from them
(:func:`tests.wire_coverage_support.recoverable`), requires a confidential
decision with no frontier target planned. The example tests pin each known
leak on its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from router.errors import RouterError
from router.types import ChatRequest
from tests.wire_coverage_support import (
    ADAPTERS,
    BENIGN_TOOLS,
    FIELDS,
    KINDS,
    VALUES,
    Case,
    call,
    cases,
    decide,
    iban_ok,
    is_confidential,
    luhn_ok,
    normalise,
    recoverable,
    ssn_ok,
    wire_body,
)

ALL = list(ADAPTERS)
OPENAI_SHAPED = ["openai_compatible", "azure_openai"]
NATIVE_MERGING = ["anthropic", "gemini"]

SSN = "536-22-1234"
CARD = "4111 1111 1111 1111"
CARD_INT = 4111111111111111
EMAIL = "jane.doe@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"
KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f"


def req(messages: list[dict[str, Any]] | None = None, **params: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"messages": messages or [{"role": "user", "content": "Hi."}], **params}
    )


def assert_classified(
    adapter: str, request: ChatRequest, value: str, *, fold: bool = False
) -> None:
    """``value`` is on ``adapter``'s wire, and the decision is confidential or above."""
    body = wire_body(adapter, request)
    assert recoverable(body, value, fold=fold), f"test setup: {value!r} not on the wire: {body!r}"
    decision = decide(request)
    assert is_confidential(decision), (
        f"{adapter} sends {value!r} but the decision is {decision.sensitivity.level!r} "
        f"(detectors {dict(decision.sensitivity.detectors)}), plan {decision.target_names}\n"
        f"body: {body.decode()}"
    )


# --- the recovery function and the generators ---------------------------------------


def test_normalise_undoes_the_disguises() -> None:
    assert normalise("\uff15\uff13\uff16\u2013\uff12\uff12\u20111234") == SSN
    assert normalise("\u0665\u0663\u0666-22-1234") == SSN
    assert normalise("4111\u00a01111\t1111  1111") == CARD
    assert normalise("jane.doe\uff20exa\u200bmple.com") == EMAIL
    assert normalise("de89 3704", fold=True) == normalise("DE89 3704", fold=True)


def test_recoverable_reads_escapes_joins_and_numbers() -> None:
    args = json.dumps({"messages": [{"arguments": '{"to": "jane.doe\\u0040example.com"}'}]})
    assert recoverable(args.encode(), EMAIL)
    parts = {
        "content": [{"type": "text", "text": "jane.doe@"}, {"type": "text", "text": "example.com"}]
    }
    assert recoverable(json.dumps(parts).encode(), EMAIL)
    assert recoverable(json.dumps({"n": CARD_INT}).encode(), str(CARD_INT))
    # Separate messages are not joined; "\n\n" between halves does not rebuild an SSN.
    separate = [{"role": "user", "content": "536-22-"}, {"role": "user", "content": "1234"}]
    assert not recoverable(json.dumps({"messages": separate}).encode(), SSN)
    assert not recoverable(json.dumps({"system": "536-22-\n\n1234"}).encode(), SSN)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_generated_values_are_valid(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS))
    value = data.draw(VALUES[kind])
    digits = "".join(c for c in value if c.isdigit())
    if kind == "us_ssn":
        assert ssn_ok(value)
    elif kind == "payment_card":
        assert len(digits) == 16 and luhn_ok(digits)
    elif kind == "iban":
        assert iban_ok(value)
    # In plain user content every generated value is detected today: the baseline.
    request = req([{"role": "user", "content": f"ref {value} thanks"}])
    assert is_confidential(decide(request)), value


# --- one example per known leak -----------------------------------------------------


@pytest.mark.parametrize("adapter", ALL)
def test_tool_description(adapter: str) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "description": f"mail {EMAIL}"}}]
    assert_classified(adapter, req(tools=tools), EMAIL)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_parameter_description(adapter: str) -> None:
    params = {
        "type": "object",
        "properties": {"q": {"type": "string", "description": f"ssn {SSN}"}},
    }
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": params}}]
    assert_classified(adapter, req(tools=tools), SSN)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_parameter_enum(adapter: str) -> None:
    params = {"type": "object", "properties": {"iban": {"type": "string", "enum": [IBAN]}}}
    tools = [{"type": "function", "function": {"name": "pay", "parameters": params}}]
    assert_classified(adapter, req(tools=tools), IBAN, fold=True)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_parameter_property_name(adapter: str) -> None:
    params = {"type": "object", "properties": {EMAIL: {"type": "string"}}}
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": params}}]
    assert_classified(adapter, req(tools=tools), EMAIL)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_name(adapter: str) -> None:
    tools = [{"type": "function", "function": {"name": KEY}}]
    assert_classified(adapter, req(tools=tools), KEY)


@pytest.mark.parametrize("adapter", OPENAI_SHAPED)
def test_response_format_schema_name(adapter: str) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": KEY, "schema": {"type": "object"}}}
    assert_classified(adapter, req(response_format=rf), KEY)


@pytest.mark.parametrize("adapter", OPENAI_SHAPED)
def test_response_format_description(adapter: str) -> None:
    spec = {"name": "a", "description": f"for {EMAIL}", "schema": {"type": "object"}}
    assert_classified(
        adapter, req(response_format={"type": "json_schema", "json_schema": spec}), EMAIL
    )


@pytest.mark.parametrize("adapter", ALL)
def test_response_format_schema_description(adapter: str) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "description": f"ssn {SSN}"}},
    }
    rf = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    assert_classified(adapter, req(response_format=rf), SSN)


@pytest.mark.parametrize("adapter", ALL)
def test_response_format_enum(adapter: str) -> None:
    schema = {"type": "object", "properties": {"card": {"enum": [CARD]}}}
    rf = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    assert_classified(adapter, req(response_format=rf), CARD)


@pytest.mark.parametrize("adapter", ALL)
@pytest.mark.parametrize("stop", [f"until {SSN}", ["END", SSN]], ids=["str", "list"])
def test_stop(adapter: str, stop: str | list[str]) -> None:
    assert_classified(adapter, req(stop=stop), SSN)


@pytest.mark.parametrize("adapter", [*OPENAI_SHAPED, "anthropic"])
def test_user(adapter: str) -> None:
    assert_classified(adapter, req(user=EMAIL), EMAIL)


@pytest.mark.parametrize("adapter", [*OPENAI_SHAPED, "anthropic", "gemini"])
def test_tool_choice_function_name(adapter: str) -> None:
    choice = {"type": "function", "function": {"name": KEY}}
    assert_classified(adapter, req(tools=BENIGN_TOOLS, tool_choice=choice), KEY)


@pytest.mark.parametrize("adapter", [*OPENAI_SHAPED, "anthropic", "gemini"])
def test_image_url_query_string(adapter: str) -> None:
    url = f"https://img.example/x.png?email={EMAIL}"
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    assert_classified(adapter, req([{"role": "user", "content": parts}]), EMAIL)


@pytest.mark.parametrize("adapter", [*OPENAI_SHAPED, "anthropic"])
def test_tool_call_id(adapter: str) -> None:
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [call(KEY)]},
    ]
    assert_classified(adapter, req(messages), KEY)


@pytest.mark.parametrize("adapter", [*OPENAI_SHAPED, "anthropic"])
def test_tool_message_tool_call_id(adapter: str) -> None:
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [call()]},
        {"role": "tool", "content": "found", "tool_call_id": KEY},
    ]
    assert_classified(adapter, req(messages), KEY)


@pytest.mark.parametrize("adapter", OPENAI_SHAPED)
def test_content_part_extra_key(adapter: str) -> None:
    part = {"type": "text", "text": "hi", "note": f"mail {EMAIL}"}
    assert_classified(adapter, req([{"role": "user", "content": [part]}]), EMAIL)


@pytest.mark.parametrize("adapter", OPENAI_SHAPED)
def test_content_part_non_string_value(adapter: str) -> None:
    part = {"type": "text", "text": "hi", "card": CARD_INT}
    assert_classified(adapter, req([{"role": "user", "content": [part]}]), str(CARD_INT))


@pytest.mark.parametrize("adapter", ALL)
def test_content_part_text_is_a_number(adapter: str) -> None:
    # Message.text() and the native adapters str() a non-string text.
    part = {"type": "text", "text": CARD_INT}
    assert_classified(adapter, req([{"role": "user", "content": [part]}]), str(CARD_INT))


@pytest.mark.parametrize("adapter", ALL)
def test_split_across_text_parts(adapter: str) -> None:
    parts = [
        {"type": "text", "text": "mail jane.doe@"},
        {"type": "text", "text": "example.com now"},
    ]
    assert_classified(adapter, req([{"role": "user", "content": parts}]), EMAIL)


@pytest.mark.parametrize("adapter", ALL)
def test_split_across_system_text_parts(adapter: str) -> None:
    # Anthropic and Gemini join a system message's parts, then the system messages.
    parts = [{"type": "text", "text": "ssn 536-22"}, {"type": "text", "text": "-1234 here"}]
    messages = [{"role": "system", "content": parts}, {"role": "user", "content": "Hi."}]
    assert_classified(adapter, req(messages), SSN)


@pytest.mark.parametrize("adapter", ALL)
def test_split_across_tool_result_parts(adapter: str) -> None:
    parts = [
        {"type": "text", "text": "key sk-proj-Ab3dEf6hIj9kLm"},
        {"type": "text", "text": KEY[22:]},
    ]
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [call()]},
        {"role": "tool", "content": parts, "tool_call_id": "call_1"},
    ]
    assert_classified(adapter, req(messages), KEY)


@pytest.mark.parametrize("adapter", NATIVE_MERGING)
@pytest.mark.parametrize("role", ["user", "assistant"])
def test_split_across_merged_turns(adapter: str, role: str) -> None:
    messages = [
        {"role": role, "content": "card 4111 1111"},
        {"role": role, "content": " 1111 1111"},
    ]
    if role == "assistant":
        messages.insert(0, {"role": "user", "content": "Hi."})
    assert_classified(adapter, req(messages), CARD)


def test_split_across_system_messages_is_not_recoverable() -> None:
    # "536-22-\n\n1234" on the wire: not the value, so the property holds vacuously.
    messages = [
        {"role": "system", "content": "ssn 536-22-"},
        {"role": "system", "content": "1234"},
        {"role": "user", "content": "Hi."},
    ]
    for adapter in ALL:
        assert not recoverable(wire_body(adapter, req(messages)), SSN)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_arguments_with_unicode_escapes(adapter: str) -> None:
    messages = [
        {"role": "user", "content": "Mail her."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call(arguments='{"to": "jane.doe\\u0040example.com"}')],
        },
    ]
    assert_classified(adapter, req(messages), EMAIL)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_arguments_with_escaped_digits(adapter: str) -> None:
    args = '{"ssn": "\\u0035\\u0033\\u0036-22-1234"}'
    messages = [
        {"role": "user", "content": "File it."},
        {"role": "assistant", "content": None, "tool_calls": [call(arguments=args)]},
    ]
    assert_classified(adapter, req(messages), SSN)


@pytest.mark.parametrize("adapter", ALL)
def test_tool_result_json_with_unicode_escapes(adapter: str) -> None:
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [call()]},
        {
            "role": "tool",
            "content": '{"mail": "jane.doe\\u0040example.com"}',
            "tool_call_id": "call_1",
        },
    ]
    assert_classified(adapter, req(messages), EMAIL)


UNICODE_VARIANTS = {
    "fullwidth_digits": ("\uff15\uff13\uff16-\uff12\uff12-\uff11\uff12\uff13\uff14", SSN),
    "arabic_indic_digits": ("\u0664\u0661\u0661\u0661 1111 1111 1111", CARD),
    "zero_width_space": ("jane.doe@exam\u200bple.com", EMAIL),
    "zero_width_in_key": (KEY[:10] + "\u200b" + KEY[10:], KEY),
    "no_break_spaces": (CARD.replace(" ", "\u00a0"), CARD),
    "tabs": (CARD.replace(" ", "\t"), CARD),
    "en_dash": (SSN.replace("-", "\u2013"), SSN),
    "non_breaking_hyphen": (SSN.replace("-", "\u2011"), SSN),
    "fullwidth_at": ("jane.doe\uff20example.com", EMAIL),
    "iban_lower_case": (IBAN.lower(), IBAN),
}


@pytest.mark.parametrize("variant", sorted(UNICODE_VARIANTS))
def test_unicode_variant_in_user_content(variant: str) -> None:
    text, value = UNICODE_VARIANTS[variant]
    request = req([{"role": "user", "content": f"ref {text} thanks"}])
    assert_classified("openai_compatible", request, value, fold=value == IBAN)


# --- the property, one test per adapter ---------------------------------------------


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("adapter", ALL)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_recoverable_secret_is_classified(adapter: str, field: str, data: st.DataObject) -> None:
    case: Case = data.draw(cases(field), label="case")
    request = case.chat_request()
    stream = data.draw(st.booleans(), label="stream")
    try:
        body = wire_body(adapter, request, stream=stream)
    except RouterError as e:
        # Shown by --hypothesis-show-statistics: which fields an adapter refuses.
        event(f"refused {case.field}: {type(e).__name__}")
        assume(False)
        return
    if not recoverable(body, case.value, fold=case.fold):
        event(f"not on the wire: {case.field}")
        return
    event(f"on the wire: {case.field}")
    decision = decide(request)
    assert is_confidential(decision), (
        f"{adapter} sends {case.describe()}\n"
        f"decision {decision.sensitivity.level!r}, "
        f"detectors {dict(decision.sensitivity.detectors)}, plan {decision.target_names}\n"
        f"body: {body.decode()}"
    )
