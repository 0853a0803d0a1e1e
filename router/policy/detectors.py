"""Sensitivity detectors: compiled once, validated matches only, never the matched text.

A :class:`Detector` finds spans of one kind of sensitive data. The engine
counts them to raise a request's sensitivity; the telemetry layer redacts
the same spans. Every regex candidate passes a validator (Luhn for cards,
mod-97 for IBANs, area/group rules for SSNs, octet ranges for IPs) so that
an order number or a date is not reported as personal data.

Scanning is cheap by construction: a detector may be gated by C-speed
substring tests (``gate`` characters, ``prefilter`` substrings, "has a
digit"), so prose without an ``@``, digits or credential shapes skips the
regex scans; card and SSN detectors share one scan for runs of digits
(``window``) and skip runs too short to hold a match. Patterns that find a
*run* hand it to a ``refine`` function that cuts out the valid spans (card
numbers at digit-group boundaries, an IBAN at its country's length).
Built-ins are compiled on first use; :func:`compile_detectors` is cached per
sensitivity config.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from ..config.schema import DetectorConfig, SensitivityConfig
from ..errors import ConfigError

__all__ = [
    "BUILTIN_NAMES",
    "DEFAULT_DETECTORS",
    "Detector",
    "builtin_detector",
    "builtin_detectors",
    "compile_detectors",
    "iban_valid",
    "luhn_valid",
    "shape",
    "ssn_valid",
]

Validator = Callable[[str], bool]
Refiner = Callable[[str], list[tuple[int, int]]]


@dataclass(frozen=True, slots=True, eq=False)
class Detector:
    """One kind of sensitive data: a compiled pattern plus a validator.

    ``finditer`` yields ``(start, end)`` spans of validated matches only.
    """

    name: str
    label: str
    pattern: re.Pattern[str]
    validate: Validator | None = None
    refine: Refiner | None = None
    """For patterns that find *runs* (digits with separators, an IBAN-like run): the
    validated spans inside one matched run, relative to its start."""
    prefilter: tuple[str, ...] = ()
    """Substrings of which at least one must occur for a match to be possible."""
    gate: str = ""
    """Characters of which one must occur; tested before ``prefilter`` (single-character
    searches are the cheapest test there is)."""
    group: int = 0
    """The regex group whose span is reported (and validated)."""
    fold_prefilter: bool = False
    """Compare the prefilter against the lower-cased text (case-insensitive detectors)."""
    needs_digit: bool = False
    """Skip texts without any ASCII digit (a C-speed test; most prose has none)."""
    window: re.Pattern[bytes] | None = None
    """A cheap pattern, run on the text's :func:`shape`, whose matches bound where
    ``pattern`` can match.

    Detectors sharing one window (cards and SSNs: runs of digits, spaces and
    dashes) let the engine scan the text once for all of them; ``pattern``
    then runs only inside each window (plus one character, so its boundary
    lookarounds see the real neighbours). The shape keeps every position, and
    a literal ``0`` lets the regex engine skip ahead at C speed where a
    ``[0-9]`` class would test each character.
    """
    window_min: int = 0
    """Fewest digits a window must hold to contain a match (13 for a card, 9 for an
    SSN): windows such as dates and times are skipped without running ``pattern``."""
    min_digits: int = 0
    """Fewest ASCII digits the whole text must hold for a match to be possible."""
    shape: bytes = b""
    """A run of character classes every match contains, in the text's :func:`shape`
    (``AA00`` for an IBAN: two capitals, two digits); tested before any regex."""

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans ``(start, end)`` of validated matches in ``text``."""
        if self.needs_digit and not has_digit(text):
            return
        yield from self._scan(text, None)

    def count(
        self,
        text: str,
        digits: bool | None = None,
        windows: dict[int, Any] | None = None,
    ) -> int:
        """How many validated matches ``text`` holds.

        ``digits`` may pass a precomputed :func:`has_digit` result for ``text``;
        ``windows`` is a per-text cache shared by detectors with the same window.
        """
        if self.needs_digit and not (has_digit(text) if digits is None else digits):
            return 0
        n = 0
        for _ in self._scan(text, windows):
            n += 1
        return n

    def _scan(self, text: str, windows: dict[int, Any] | None) -> Iterator[tuple[int, int]]:
        if self.gate and not any(map(text.__contains__, self.gate)):
            return
        if self.prefilter:
            hay = _lower_of(text, windows) if self.fold_prefilter else text
            if not any(p in hay for p in self.prefilter):
                return
        if self.min_digits or self.shape or self.window is not None:
            shaped, ndigits = _shape_of(text, windows)
            if ndigits < self.min_digits or self.shape not in shaped:
                return
        if self.window is None:
            yield from self._matches(text, 0, len(text))
            return
        key = id(self.window)
        spans: list[tuple[int, int, int]] | None = windows.get(key) if windows is not None else None
        if spans is None:
            count = shaped.count
            spans = [
                (a, b, count(b"0", a, b))
                for a, b in (m.span() for m in self.window.finditer(shaped))
            ]
            if windows is not None:
                windows[key] = spans
        size = len(text)
        fewest = self.window_min
        for a, b, digits in spans:
            if digits >= fewest:
                yield from self._matches(text, a, min(size, b + 1))

    def _matches(self, text: str, pos: int, end: int) -> Iterator[tuple[int, int]]:
        """Validated matches in ``text[pos:end]``."""
        check = self.validate
        refine = self.refine
        g = self.group
        for m in self.pattern.finditer(text, pos, end):
            if refine is not None:
                base = m.start(g)
                for a, b in refine(m.group(g)):
                    yield base + a, base + b
            elif check is None or check(m.group(g)):
                yield m.span(g)

    def __repr__(self) -> str:
        return f"Detector({self.name!r}, label={self.label!r})"


# --- per-text facts shared by detectors -------------------------------------

_SHAPES = bytes.maketrans(
    bytes(range(65, 91)) + bytes(range(97, 123)) + b"0123456789",
    b"A" * 26 + b"a" * 26 + b"0" * 10,
)
# Slots in the per-text cache (its other keys are ids of patterns: never 0 or 1).
_SHAPE_KEY = 0
_LOWER_KEY = 1


def shape(text: str) -> bytes:
    """``text`` with ASCII capitals as ``A``, small letters as ``a``, digits as ``0``
    (anything else non-ASCII as ``?``): byte-level tests on it run at C speed."""
    return text.encode("ascii", "replace").translate(_SHAPES)


def _shape_of(text: str, cache: dict[int, Any] | None) -> tuple[bytes, int]:
    hit = cache.get(_SHAPE_KEY) if cache is not None else None
    if hit is None:
        shaped = shape(text)
        hit = (shaped, shaped.count(b"0"))
        if cache is not None:
            cache[_SHAPE_KEY] = hit
    return hit


def _lower_of(text: str, cache: dict[int, Any] | None) -> str:
    # Case-insensitive prefilters (custom regex and keyword detectors) share one.
    hit: str | None = cache.get(_LOWER_KEY) if cache is not None else None
    if hit is None:
        hit = text.lower()
        if cache is not None:
            cache[_LOWER_KEY] = hit
    return hit


# --- validators -------------------------------------------------------------


def has_digit(text: str) -> bool:
    """Whether ``text`` holds an ASCII digit (ten substring searches, no regex scan)."""
    return any(map(text.__contains__, "0123456789"))


_SEPARATORS = str.maketrans("", "", " -")


def _digits(s: str) -> str:
    if s.isdigit():
        return s
    if s.translate(_SEPARATORS).isdigit():
        return s.translate(_SEPARATORS)
    return "".join(c for c in s if c.isdigit())


_DOUBLE = str.maketrans("0123456789", "0246813579")  # 2d, minus 9 when above 9


def _luhn_digits(digits: str) -> bool:
    doubled = digits[-2::-2].translate(_DOUBLE)
    return (sum(map(int, digits[-1::-2])) + sum(map(int, doubled))) % 10 == 0


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of the digits of ``number`` (separators ignored)."""
    digits = _digits(number)
    return bool(digits) and _luhn_digits(digits)


# Issuer prefixes of the card networks people actually carry (Visa, Mastercard incl.
# the 2-series, Amex, Discover, JCB, Diners, UnionPay, Maestro). A Luhn-valid number
# with another prefix is more often an id or order number than a card.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|35|6[0245]|62|5[06-9]")


_DIGIT_GROUP = re.compile(r"[0-9]+")


def _card_spans(run: str) -> list[tuple[int, int]]:
    """Card numbers inside a run of digit groups (single spaces or dashes between).

    A card starts at a group boundary and ends at one, holds 13-19 digits, has a
    card-network prefix and passes Luhn. The longest valid candidate from each
    start wins; so "4111 1111 1111 1111 12/29" yields the card, not 18 digits.
    """
    groups = [(m.start(), m.end(), m.group()) for m in _DIGIT_GROUP.finditer(run)]
    out: list[tuple[int, int]] = []
    i, n = 0, len(groups)
    while i < n:
        best = None
        digits = ""
        first = groups[i][2]
        # Most starts fail the network prefix; test it before building candidates.
        if len(first) < 2 or _CARD_PREFIX.match(first) is not None:
            for j in range(i, n):
                digits += groups[j][2]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _card_digits_valid(digits):
                    best = j
        if best is None:
            i += 1
        else:
            out.append((groups[i][0], groups[best][1]))
            i = best + 1
    return out


def _card_digits_valid(digits: str) -> bool:
    return (
        13 <= len(digits) <= 19
        and digits.count(digits[0]) != len(digits)
        and _CARD_PREFIX.match(digits) is not None
        and _luhn_digits(digits)
    )


def _card_valid(s: str) -> bool:
    return _card_digits_valid(_digits(s))


def ssn_valid(s: str) -> bool:
    """US SSN structure: area not 000/666/9xx, group not 00, serial not 0000."""
    digits = _digits(s)
    if len(digits) != 9:
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    if area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0:
        return False
    # Well-known advertising/test numbers.
    return digits not in {"078051120", "219099999", "123456789"}


# IBAN length per country (ISO 13616 registry), for the countries that issue them.
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(s: str) -> bool:
    """Country length and the ISO 7064 mod-97 checksum."""
    iban = s.replace(" ", "").upper()
    if _IBAN_LENGTH.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _iban_spans(run: str) -> list[tuple[int, int]]:
    """The IBAN at the start of ``run``: as many characters as its country's IBAN has,
    ending at a group boundary, with a valid checksum (an uppercase word that
    follows the IBAN is not part of it)."""
    want = _IBAN_LENGTH.get(run[:2])
    if want is None:
        return []
    seen = 0
    for idx, ch in enumerate(run):
        if ch != " ":
            seen += 1
            if seen == want:
                end = idx + 1
                if end < len(run) and run[end] != " ":
                    return []
                return [(0, end)] if iban_valid(run[:end]) else []
    return []


def _phone_valid(s: str) -> bool:
    digits = _digits(s)
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


def _ip_valid(s: str) -> bool:
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return False
    # Unspecified and loopback addresses identify nobody.
    return not (addr.is_unspecified or addr.is_loopback)


# --- built-in detectors -----------------------------------------------------

# Patterns start with a character class and check their left boundary with a
# lookbehind *after* it: sre then skips non-candidate positions quickly.
# A run of 13+ digits with single separators; _card_spans finds the cards in it.
_CARD = r"[0-9](?<![0-9][0-9])(?<![0-9][ -][0-9])(?:[ -]?[0-9]){12,}(?![0-9])"
_SSN = r"[0-9](?<![0-9-][0-9])[0-9]{2}([- ])[0-9]{2}\1[0-9]{4}(?![0-9-])"
_IBAN = r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])"
_EMAIL = r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"
_PHONE = (
    r"(?<![\w+])(?:"
    r"\+[1-9][0-9]{6,14}"  # E.164
    r"|\+[1-9][0-9]{0,2}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-][0-9]{2,5}){1,4}"
    r"|\([0-9]{3}\)[ .-]?[0-9]{3}[ .-][0-9]{4}"  # (555) 123-4567
    r"|[0-9]{3}[.-][0-9]{3}[.-][0-9]{4}"  # 555-123-4567
    r"|0[0-9]{1,4}[ /-][0-9]{3,8}(?:[ -][0-9]{2,4}){0,2}"  # 030 1234567, 020 7946 0958
    r")(?![\w])"
)
_IPV4 = r"[0-9](?<![0-9.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9.])"
_IPV6 = r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"
_CREDENTIAL = (
    r"\bsk-(?:proj-|ant-(?:api\d\d-)?|live_|test_)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic, Stripe
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b"  # GitHub tokens
    r"|\bgithub_pat_[A-Za-z0-9_]{40,}\b"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}\b"  # Google API key
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r"|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"  # PEM private key, through its END line
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?"
)


# Runs of digits with single-character separators: every card number and SSN
# lies inside one, and prose holds few, so one scan serves both detectors. It
# runs on the shape, where every ASCII digit is ``0``.
_DIGIT_RUN = rb"0[0 -]{8,}0"


@cache
def _digit_run() -> re.Pattern[bytes]:
    # One object for card and SSN: the per-text window cache is keyed by its id.
    return re.compile(_DIGIT_RUN)


# One factory per built-in detector: a config compiles only the patterns it uses.
_BUILTIN: dict[str, Callable[[], Detector]] = {
    "email": lambda: Detector("email", "EMAIL", re.compile(_EMAIL), prefilter=("@",)),
    "phone": lambda: Detector("phone", "PHONE", re.compile(_PHONE), _phone_valid, needs_digit=True),
    "payment_card": lambda: Detector(
        "payment_card",
        "CARD",
        re.compile(_CARD),
        refine=_card_spans,
        needs_digit=True,
        window=_digit_run(),
        window_min=13,
        min_digits=13,
    ),
    "us_ssn": lambda: Detector(
        "us_ssn",
        "SSN",
        re.compile(_SSN),
        ssn_valid,
        needs_digit=True,
        window=_digit_run(),
        window_min=9,
        min_digits=9,
    ),
    "iban": lambda: Detector(
        "iban", "IBAN", re.compile(_IBAN), refine=_iban_spans, needs_digit=True, shape=b"AA00"
    ),
    "ip_address": lambda: Detector(
        "ip_address",
        "IP",
        re.compile(f"{_IPV4}|{_IPV6}"),
        _ip_valid,
        prefilter=(".", ":"),
        needs_digit=True,
    ),
    "credential": lambda: Detector(
        "credential",
        "CREDENTIAL",
        re.compile(_CREDENTIAL),
        # Few, short substrings that every credential shape contains ("IA" covers
        # AKIA/ASIA, "_" the GitHub tokens, "-----" PEM): each test is a C-speed scan.
        prefilter=("sk-", "IA", "_", "xox", "Iz", "eyJ", "-----"),
        gate="-_IJ",
    ),
}


@cache
def builtin_detector(name: str) -> Detector:
    """The built-in detector ``name``, compiled on first use (import stays cheap).

    Raises ``KeyError`` for a name not in :data:`BUILTIN_NAMES`.
    """
    return _BUILTIN[name]()


def builtin_detectors() -> dict[str, Detector]:
    """Every built-in detector by name (each compiled once, on first use)."""
    return {name: builtin_detector(name) for name in _BUILTIN}


BUILTIN_NAMES = ("email", "phone", "payment_card", "us_ssn", "iban", "ip_address", "credential")

DEFAULT_DETECTORS: tuple[tuple[str, str], ...] = (
    ("email", "confidential"),
    ("payment_card", "confidential"),
    ("us_ssn", "confidential"),
    ("iban", "confidential"),
    ("credential", "confidential"),
)
"""Detectors in force when the config gives no ``detect`` list (phone and IP are opt-in)."""


def _literal_prefix(pattern: re.Pattern[str]) -> str:
    """The literal text every match of ``pattern`` starts with ("" when unknown).

    Read from the regex parser's tree; leading zero-width assertions (``\\b``,
    ``^``) are skipped. Any parser trouble just means no prefilter.
    """
    parser = getattr(re, "_parser", None)
    if parser is None:
        return ""
    try:
        tree = parser.parse(pattern.pattern, pattern.flags)
    except Exception:
        return ""
    out: list[str] = []
    for op, arg in tree:
        name = str(op)
        if name == "AT" and not out:
            continue
        if name != "LITERAL":
            break
        out.append(chr(arg))
    lead = "".join(out)
    # str.lower() and the regex engine's case folding agree on ASCII only; a
    # prefilter that disagreed with the regex would hide a match (a leak).
    return lead if lead.isascii() else ""


def _custom(i: int, d: DetectorConfig) -> Detector:
    key = f"sensitivity.detect.{i}"
    name = d.name or d.detector
    if d.detector == "regex":
        if not d.pattern:
            raise ConfigError("a regex detector needs a 'pattern'", key=key)
        if d.keywords:
            raise ConfigError("a regex detector takes no 'keywords'", key=key)
        try:
            pattern = re.compile(d.pattern, 0 if d.case_sensitive else re.IGNORECASE)
        except re.error as e:
            raise ConfigError(f"invalid regex {d.pattern!r}: {e}", key=f"{key}.pattern") from None
        if pattern.search(""):
            raise ConfigError("the pattern matches the empty string", key=f"{key}.pattern")
        lead = _literal_prefix(pattern)
        if not lead:
            return Detector(name, _label(name), pattern)
        # A literal every match starts with is a cheap substring test that
        # skips the regex scan on the (usual) text without it.
        fold = not d.case_sensitive
        return Detector(
            name,
            _label(name),
            pattern,
            prefilter=(lead.lower() if fold else lead,),
            fold_prefilter=fold,
        )
    if d.detector == "keywords":
        words = [w for w in d.keywords or () if w.strip()]
        if not words:
            raise ConfigError("a keywords detector needs a non-empty 'keywords' list", key=key)
        if d.pattern:
            raise ConfigError("a keywords detector takes no 'pattern'", key=key)
        alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        flags = 0 if d.case_sensitive else re.IGNORECASE
        pattern = re.compile(rf"(?<!\w)(?:{alts})(?!\w)", flags)
        pre = tuple(words) if d.case_sensitive else tuple(w.lower() for w in words)
        return Detector(
            name, _label(name), pattern, prefilter=pre, fold_prefilter=not d.case_sensitive
        )
    raise ConfigError(
        f"unknown detector {d.detector!r}; built-in: {', '.join(BUILTIN_NAMES)}, "
        "or 'regex' / 'keywords'",
        key=f"{key}.detector",
    )


def _label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "CUSTOM"


@lru_cache(maxsize=64)
def compile_detectors(cfg: SensitivityConfig) -> list[tuple[Detector, str]]:
    """Every detector the config turns on, with the level it raises a request to.

    With no ``detect`` list the defaults hold (:data:`DEFAULT_DETECTORS`).
    Raises :class:`ConfigError` for an unknown detector or a bad pattern.
    The result is cached per config; treat it as read-only.
    """
    if cfg.detect is None:
        return [(builtin_detector(n), lvl) for n, lvl in DEFAULT_DETECTORS if lvl in cfg.levels]
    out: list[tuple[Detector, str]] = []
    names: set[str] = set()
    for i, d in enumerate(cfg.detect):
        if d.detector in _BUILTIN:
            if d.pattern or d.keywords:
                raise ConfigError(
                    f"built-in detector {d.detector!r} takes no pattern or keywords",
                    key=f"sensitivity.detect.{i}",
                )
            det = builtin_detector(d.detector)
            if d.name and d.name != d.detector:
                det = dataclasses.replace(det, name=d.name)
        else:
            det = _custom(i, d)
        if det.name in names:
            raise ConfigError(
                f"detector name {det.name!r} is used twice", key=f"sensitivity.detect.{i}"
            )
        names.add(det.name)
        out.append((det, d.level))
    return out
