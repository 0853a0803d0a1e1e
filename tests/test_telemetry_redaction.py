"""Redaction of captured content, and content capture off by default."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import respx
from hypothesis import given
from hypothesis import strategies as st

from router import Router
from router.config.schema import SensitivityConfig
from router.execution.walker import Send
from router.telemetry import semconv as sc
from router.telemetry.redact import (
    CredentialDetector,
    Detector,
    LiteralDetector,
    Redactor,
    policy_detectors,
    redact,
)
from router.telemetry.tracing import TracingObserver
from router.types import ChatResponse
from tests.telemetry_support import (
    LOCAL_KEY,
    LOCAL_URL,
    Otel,
    completion,
    make_config,
    new_call,
)

pytest_plugins = ["tests.telemetry_fixtures"]


@dataclass(frozen=True)
class Rx:
    """A fake detector with the policy engine's interface."""

    name: str
    label: str
    pattern: str

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        for m in re.finditer(self.pattern, text):
            yield m.span()


EMAIL = Rx("email", "EMAIL", r"[\w.+-]+@[\w-]+\.[\w.]+")
CARD = Rx("payment_card", "CARD", r"\b\d(?:[ -]?\d){12,15}\b")


def test_fakes_satisfy_the_protocol() -> None:
    assert isinstance(EMAIL, Detector)
    assert isinstance(CredentialDetector(), Detector)


def test_redact_replaces_each_span_with_its_label() -> None:
    text = "mail jane@example.com or pay 4111 1111 1111 1111 now"
    assert redact(text, [EMAIL, CARD]) == "mail [EMAIL] or pay [CARD] now"
    assert redact("nothing here", [EMAIL, CARD]) == "nothing here"
    assert redact("", [EMAIL]) == ""


def test_overlapping_spans_merge() -> None:
    a = Rx("a", "A", r"abcd")
    b = Rx("b", "B", r"cdef")
    assert redact("xxabcdefyy", [a, b]) == "xx[A]yy"
    assert redact("abcd abcd", [a]) == "[A] [A]"


@given(st.text(max_size=80), st.sampled_from(["jane@example.com", "a.b+c@x-y.org"]))
def test_no_email_survives(prefix: str, email: str) -> None:
    out = redact(prefix + " " + email + " " + prefix, [EMAIL])
    assert email not in out


def test_credentials_always_redacted() -> None:
    r = Redactor([EMAIL], secrets=["my-weird-secret-value"])
    text = (
        "keys: sk-abcdefghijklmnopqrstuvwx AKIAABCDEFGHIJKLMNOP "
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789 "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N "
        "Bearer abcdefghijklmnop1234 my-weird-secret-value "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- end"
    )
    out = r(text)
    assert out.count("[CREDENTIAL]") == 7, out
    assert out.startswith("keys: [CREDENTIAL]") and out.endswith(" end")
    assert "[EMAIL]" in r("x jane@example.com")


def test_literal_detector_finds_every_occurrence() -> None:
    d = LiteralDetector(("abc",))
    assert list(d.finditer("abc abc")) == [(0, 3), (4, 7)]


def test_policy_detectors_or_builtin() -> None:
    r = Redactor.for_sensitivity(SensitivityConfig(), ["sk-literal"])
    found = policy_detectors(SensitivityConfig())
    assert r.source == ("policy" if found is not None else "builtin")
    assert r("token sk-literal") == "token [CREDENTIAL]"


def _capture_run(otel: Otel, mock: respx.MockRouter, capture: bool) -> None:
    mock.post(LOCAL_URL).mock(
        return_value=httpx.Response(
            200, json=completion("smol-135m", "Reply to jane@example.com with " + LOCAL_KEY)
        )
    )
    # The router's own redactor: the policy's detectors and the configured keys.
    r = Router(make_config(capture_content=capture), **otel.providers)
    r.chat(
        [
            {"role": "system", "content": "Be brief. Admin mail root@corp.example"},
            {"role": "user", "content": "Card 4111 1111 1111 1111, key " + LOCAL_KEY},
        ]
    )


def test_capture_off_by_default(otel: Otel, mock: respx.MockRouter) -> None:
    _capture_run(otel, mock, capture=False)
    for s in otel.spans():
        for key in (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.SYSTEM_INSTRUCTIONS):
            assert key not in s.attributes


def test_capture_on_redacts(otel: Otel, mock: respx.MockRouter) -> None:
    _capture_run(otel, mock, capture=True)
    chat = otel.span("chat smol-135m")
    inp = json.loads(str(chat.attributes[sc.INPUT_MESSAGES]))
    assert inp == [
        {"role": "user", "parts": [{"type": "text", "content": "Card [CARD], key [CREDENTIAL]"}]}
    ]
    system = json.loads(str(chat.attributes[sc.SYSTEM_INSTRUCTIONS]))
    assert system == [{"type": "text", "content": "Be brief. Admin mail [EMAIL]"}]
    out = json.loads(str(chat.attributes[sc.OUTPUT_MESSAGES]))
    assert out[0]["parts"][0]["content"] == "Reply to [EMAIL] with [CREDENTIAL]"
    assert out[0]["finish_reason"] == "stop"


def test_a_tracing_observer_uses_the_redactor_it_is_given(otel: Otel) -> None:
    codename = Rx("codename", "CODENAME", r"\bzebra\b")
    r = Router(make_config(capture_content=True))
    obs = TracingObserver(
        r.config, **otel.providers, redactor=Redactor([EMAIL, CARD, codename], secrets=[LOCAL_KEY])
    )
    call = new_call(
        r, [{"role": "user", "content": "Card 4111 1111 1111 1111, zebra " + LOCAL_KEY}]
    )
    obs.request_started(call)
    step = call.walker.next()
    assert isinstance(step, Send)
    token = obs.attempt_started(call, step)
    reply = ChatResponse.model_validate(completion("smol-135m", "zebra at jane@example.com"))
    obs.attempt_ended(call, step, token, response=reply)
    obs.request_ended(call, response=reply)
    chat = otel.span("chat smol-135m")
    inp = json.loads(str(chat.attributes[sc.INPUT_MESSAGES]))
    assert inp[0]["parts"][0]["content"] == "Card [CARD], [CODENAME] [CREDENTIAL]"
    out = json.loads(str(chat.attributes[sc.OUTPUT_MESSAGES]))
    assert out[0]["parts"][0]["content"] == "[CODENAME] at [EMAIL]"


def test_capture_redacts_normalised_text_and_tool_call_ids(
    otel: Otel, mock: respx.MockRouter
) -> None:
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m", "ok")))
    r = Router(make_config(capture_content=True), **otel.providers)
    call = {
        "id": "call_536-22-1234",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"to": "jane\\u0040example.com"}'},
    }
    r.chat(
        [
            # An SSN in en dashes, a card in full-width digits: the same spans the
            # policy detects are hidden.
            {
                "role": "user",
                "content": "ssn 536\u201322\u20131234, card \uff14\uff11\uff11\uff11"
                " \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
            },
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_536-22-1234", "content": "done"},
        ]
    )
    captured = str(otel.span("chat smol-135m").attributes[sc.INPUT_MESSAGES])
    for leak in ("1234", "\uff11", "jane", "536"):
        assert leak not in captured, leak
    assert "[SSN]" in captured and "[CARD]" in captured and "[EMAIL]" in captured
