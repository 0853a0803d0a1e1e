"""Detectors: true positives, and the false positives they must not report."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config.schema import DetectorConfig, SensitivityConfig
from router.errors import ConfigError
from router.policy.detectors import (
    Detector,
    builtin_detectors,
    compile_detectors,
    has_digit,
    iban_valid,
    luhn_valid,
    shape,
    ssn_valid,
)


def found(detector: str, text: str) -> list[str]:
    d = builtin_detectors()[detector]
    return [text[a:b] for a, b in d.finditer(text)]


@pytest.mark.parametrize(
    ("detector", "text", "match"),
    [
        (
            "email",
            "write to jane.doe+tag@mail.example.co.uk today",
            "jane.doe+tag@mail.example.co.uk",
        ),
        ("payment_card", "card 4111 1111 1111 1111, exp 12/29", "4111 1111 1111 1111"),
        ("payment_card", "amex 378282246310005.", "378282246310005"),
        ("payment_card", "mc 5555-5555-5555-4444", "5555-5555-5555-4444"),
        ("us_ssn", "SSN: 123-45-6788", "123-45-6788"),
        ("us_ssn", "ssn 536 22 1234 on file", "536 22 1234"),
        ("iban", "pay to DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"),
        ("iban", "GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("phone", "call +14155552671 now", "+14155552671"),
        ("phone", "office +44 20 7946 0958", "+44 20 7946 0958"),
        ("phone", "US (415) 555-2671", "(415) 555-2671"),
        ("phone", "Berlin 030 1234567", "030 1234567"),
        ("ip_address", "from 203.0.113.7 at noon", "203.0.113.7"),
        ("ip_address", "v6 2001:db8::8a2e:370:7334 seen", "2001:db8::8a2e:370:7334"),
        (
            "credential",
            "key sk-proj-AbCdEfGhIjKlMnOpQrStUv123456",
            "sk-proj-AbCdEfGhIjKlMnOpQrStUv123456",
        ),
        ("credential", "aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("credential", "token ghp_" + "A1b2" * 9, "ghp_" + "A1b2" * 9),
        ("credential", "anthropic sk-ant-api03-" + "x" * 30, "sk-ant-api03-" + "x" * 30),
        ("credential", "slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
        ("credential", "google AIza" + "b" * 35 + " end", "AIza" + "b" * 35),
        ("credential", "gh github_pat_" + "a1" * 20, "github_pat_" + "a1" * 20),
        # A card inside a longer run of digits and separators.
        ("payment_card", "ref 2024 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
        ("us_ssn", "dates 2024-01-15 then 123-45-6788.", "123-45-6788"),
        ("payment_card", "4111 1111 1111 1111 12/29", "4111 1111 1111 1111"),  # expiry after it
        ("payment_card", "ID-4111111111111111", "4111111111111111"),
        ("iban", "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00"),
    ],
)
def test_detects(detector: str, text: str, match: str) -> None:
    assert found(detector, text) == [match]


@pytest.mark.parametrize(
    ("detector", "text"),
    [
        ("email", "not an address: a@b, @handle, user@localhost"),
        ("payment_card", "order 4111 1111 1111 1112 shipped"),  # fails Luhn
        ("payment_card", "tracking 1234567890123"),  # no card prefix, fails Luhn
        ("payment_card", "0000 0000 0000 0000"),  # Luhn-valid but no card
        ("payment_card", "phone 2024-01-15 and 555-0100"),
        ("payment_card", "a 25-digit id 4111111111111111000000000"),
        ("us_ssn", "the meeting is on 2024-01-15"),  # a date is no SSN
        ("us_ssn", "invalid area 000-12-3456, 666-12-3456, 912-12-3456"),
        ("us_ssn", "group zero 123-00-4567, serial zero 123-45-0000"),
        ("us_ssn", "mixed separators 123-45 6789"),
        ("us_ssn", "part of a longer number 1123-45-67890"),
        ("us_ssn", "followed by more 123-45-6788-1"),
        ("iban", "DE89 3704 0044 0532 0130 01"),  # checksum fails
        ("iban", "XX89370400440532013000"),  # unknown country
        ("iban", "DE8937040044053201300"),  # wrong length
        ("phone", "version 1.2.3 build 42"),
        ("ip_address", "version 1.2.3.4.5, 999.1.1.1, 127.0.0.1, 12:30:45"),
        ("credential", "sk-short and AKIA123 and eyJhbGciOi"),
    ],
)
def test_false_positives(detector: str, text: str) -> None:
    assert found(detector, text) == []


def test_pem_private_key_spans_to_end_marker() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert found("credential", f"here: {pem} done") == [pem]


def test_jwt() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P"
    assert found("credential", f"token: {jwt} (expires soon)") == [jwt]
    # As a bearer token the whole header value is the credential.
    assert found("credential", f"Bearer {jwt}") == [f"Bearer {jwt}"]
    # Header and payload alone carry the claims: a token cut before its signature counts.
    assert found("credential", jwt.rpartition(".")[0]) == [jwt.rpartition(".")[0]]


def test_validators() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert not luhn_valid("")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE00370400440532013000")
    assert ssn_valid("123-45-6788") and not ssn_valid("666-45-6788")
    assert not ssn_valid("078-05-1120")  # the Woolworth wallet number


def test_labels_and_names() -> None:
    labels = {n: d.label for n, d in builtin_detectors().items()}
    assert labels == {
        "email": "EMAIL",
        "phone": "PHONE",
        "payment_card": "CARD",
        "us_ssn": "SSN",
        "iban": "IBAN",
        "ip_address": "IP",
        "credential": "CREDENTIAL",
    }


def test_defaults_when_no_detect_list() -> None:
    dets = compile_detectors(SensitivityConfig())
    assert [(d.name, lvl) for d, lvl in dets] == [
        ("email", "confidential"),
        ("payment_card", "confidential"),
        ("us_ssn", "confidential"),
        ("iban", "confidential"),
        ("credential", "confidential"),
    ]


def test_explicit_list_replaces_defaults_and_opts_into_phone() -> None:
    cfg = SensitivityConfig(
        detect=(
            DetectorConfig(detector="phone", level="internal"),
            DetectorConfig(detector="payment_card", level="restricted"),
        )
    )
    assert [(d.name, lvl) for d, lvl in compile_detectors(cfg)] == [
        ("phone", "internal"),
        ("payment_card", "restricted"),
    ]


def test_regex_and_keywords_detectors() -> None:
    cfg = SensitivityConfig(
        detect=(
            DetectorConfig(
                detector="regex", name="project-codes", pattern=r"PRJ-\d{4}", level="confidential"
            ),
            DetectorConfig(
                detector="keywords",
                name="codenames",
                keywords=("Bluebird", "night owl"),
                level="restricted",
            ),
        )
    )
    (regex, _), (kw, _) = compile_detectors(cfg)
    assert regex.label == "PROJECT_CODES" and kw.label == "CODENAMES"
    text = "see prj-1234 and PRJ-99; Project BLUEBIRD, the Night Owl plan, bluebirds"
    assert [text[a:b] for a, b in regex.finditer(text)] == ["prj-1234"]
    assert [text[a:b] for a, b in kw.finditer(text)] == ["BLUEBIRD", "Night Owl"]


def test_case_sensitive_keywords() -> None:
    cfg = SensitivityConfig(
        detect=(
            DetectorConfig(
                detector="keywords",
                name="k",
                keywords=("ACME",),
                case_sensitive=True,
                level="internal",
            ),
        )
    )
    ((kw, _),) = compile_detectors(cfg)
    assert kw.count("acme ACME Acme") == 1


@pytest.mark.parametrize(
    ("det", "message"),
    [
        (DetectorConfig(detector="nope", level="internal"), "unknown detector 'nope'"),
        (DetectorConfig(detector="regex", level="internal"), "needs a 'pattern'"),
        (DetectorConfig(detector="regex", pattern="(", level="internal"), "invalid regex"),
        (DetectorConfig(detector="regex", pattern="a*", level="internal"), "empty string"),
        (DetectorConfig(detector="keywords", level="internal"), "non-empty 'keywords'"),
        (DetectorConfig(detector="email", pattern="x", level="internal"), "takes no pattern"),
    ],
)
def test_bad_detector_config(det: DetectorConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_detectors(SensitivityConfig(detect=(det,)))


def test_duplicate_detector_names() -> None:
    cfg = SensitivityConfig(
        detect=(
            DetectorConfig(detector="email", level="internal"),
            DetectorConfig(detector="email", level="confidential"),
        )
    )
    with pytest.raises(ConfigError, match="used twice"):
        compile_detectors(cfg)


_PIECES = [
    "4111 1111 1111 1111",
    "4111-1111-1111-1112",
    "2024-01-15",
    "123-45-6788",
    "666-12-3456",
    "DE89 3704 0044 0532 0130 00",
    "jane@example.com",
    "AKIAIOSFODNN7EXAMPLE",
    "12",
    " ",
    "-",
    "word",
    "BIC",
    "\n",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
@settings(max_examples=200, deadline=None)
def test_shared_scan_equals_standalone_and_spans_validate(text: str) -> None:
    dets = builtin_detectors()
    windows: dict[int, list[tuple[int, int, int]]] = {}
    for name, d in dets.items():
        spans = list(d.finditer(text))
        assert d.count(text, has_digit(text), windows) == len(spans), name
        for a, b in spans:
            found = text[a:b]
            if name == "payment_card":
                assert luhn_valid(found)
            elif name == "iban":
                assert iban_valid(found)
            elif name == "us_ssn":
                assert ssn_valid(found)


@pytest.mark.parametrize(
    ("pattern", "lead"),
    [
        (r"PRJ-\d{4}", "PRJ-"),
        (r"\bEMP\d{6}\b", "EMP"),
        (r"ab?c", "a"),
        (r"(PRJ)-\d", ""),
        (r"a|b", ""),
        (r"\d+x", ""),
        (r"Straße\d", ""),  # non-ASCII literal: no prefilter rather than a wrong one
    ],
)
def test_regex_literal_prefix(pattern: str, lead: str) -> None:
    from router.policy.detectors import _literal_prefix

    assert _literal_prefix(re.compile(pattern, re.IGNORECASE)) == lead


@pytest.mark.parametrize("case_sensitive", [False, True])
def test_prefiltered_regex_detector_still_finds_its_matches(case_sensitive: bool) -> None:
    from router.config.schema import SensitivityConfig

    cfg = SensitivityConfig.model_validate(
        {
            "detect": [
                {
                    "detector": "regex",
                    "name": "codes",
                    "pattern": r"\bPRJ-\d{4}\b",
                    "level": "confidential",
                    "case_sensitive": case_sensitive,
                }
            ]
        }
    )
    ((det, _),) = compile_detectors(cfg)
    assert list(det.finditer("see PRJ-1234 now")) == [(4, 12)]
    assert bool(list(det.finditer("see prj-1234 now"))) is (not case_sensitive)
    assert list(det.finditer("no code here")) == []


@given(
    st.lists(
        st.sampled_from(
            [
                *_PIECES,
                "GB82WEST12345698765432",
                "gb82 west 1234 5698 7654 32",
                "é",
                "Ab12",
                "AB",
                "12",
                "\u0664",
                "\uff14",
                "€1 ",
                "sk-",
                "Bearer ",
                "bEaReR ",
                "_",
                "eyJ",
                "AKIA",
                "://u:p@",
                "Authorization: ",
                "@",
            ]
        ),
        max_size=12,
    ).map("".join)
)
@settings(max_examples=300, deadline=None)
def test_shape_gates_never_hide_a_match(text: str) -> None:
    # The gates and the windows (scanned on the shape) are only shortcuts: with
    # them off, every detector finds the same spans in the text itself.
    def ungate(d: Detector) -> Detector:
        return dataclasses.replace(
            d,
            shape=(),
            min_digits=0,
            window=None,
            window_min=0,
            gate="",
            prefilter=(),
            lower_prefilter=(),
            parts=tuple(ungate(p) for p in d.parts),
        )

    for name, d in builtin_detectors().items():
        gated, plain = list(d.finditer(text)), list(ungate(d).finditer(text))
        if d.window_reach:
            # The IBAN window tries every place an IBAN can start; the plain scan
            # reads runs, and a run that holds no IBAN at its start is skipped
            # whole. So the window finds at least as much (each find checksummed).
            assert set(plain) <= set(gated), name
        else:
            assert gated == plain, name


def test_iban_windows_closer_than_an_iban_is_long_miss_nothing() -> None:
    # Found by the property above: a window that ran on past the first IBAN-like
    # run hid the start of the next one.
    text = "GB82WEST123456987654324111 1111 1111 1111 GB82WEST12345698765432"
    assert list(builtin_detectors()["iban"].finditer(text)) == [(42, 64)]
    two = "GB82 WEST 1234 5698 7654 32 and DE89 3704 0044 0532 0130 00"
    assert list(builtin_detectors()["iban"].finditer(two)) == [(0, 27), (32, 59)]
    # Two IBANs one space apart make one run: both are in it, gated or not.
    glued = "DE89 3704 0044 0532 0130 00Bearer DE89 3704 0044 0532 0130 00"
    assert list(builtin_detectors()["iban"].finditer(glued)) == [(34, 61)]
    run = "GB82WEST12345698765432 gb82 west 1234 5698 7654 32"
    iban = builtin_detectors()["iban"]
    ungated = dataclasses.replace(iban, window=None, window_reach=0, shape=())
    assert list(iban.finditer(run)) == list(ungated.finditer(run)) == [(0, 22), (23, 50)]


def test_card_window_on_the_shape_reports_positions_in_the_text() -> None:
    card = builtin_detectors()["payment_card"]
    text = "Ünïcödé № ٤٤ then 4111 1111 1111 1111, ok"
    start = text.index("4111")
    assert list(card.finditer(text)) == [(start, start + 19)]


def test_shape_maps_classes_and_keeps_positions() -> None:
    assert shape("DE89 x-9é") == b"AA00 A-0?"
