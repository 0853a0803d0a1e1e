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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from ..config.schema import DetectorConfig, SensitivityConfig
from ..errors import ConfigError
from .normalize import normalize, variants

__all__ = [
    "BUILTIN_NAMES",
    "DEFAULT_DETECTORS",
    "Detector",
    "builtin_detector",
    "builtin_detectors",
    "compile_detectors",
    "count_after_redaction",
    "iban_valid",
    "luhn_valid",
    "scan_forms",
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
    window_reach: int = 0
    """When set, each window marks where a match *starts*, and ``pattern`` is tried
    there only, on at most this many characters (IBANs: a two-letter, two-digit
    literal on the shape, then the full pattern anchored at it)."""
    window_lead: int = 0
    """Characters before a window where a match may already start (a phone number's
    ``+`` or ``(`` before its first digit): the window marks its first digit."""
    window_min: int = 0
    """Fewest digits a window must hold to contain a match (13 for a card, 9 for an
    SSN): windows such as dates and times are skipped without running ``pattern``."""
    min_digits: int = 0
    """Fewest ASCII digits the whole text must hold for a match to be possible."""
    shape: tuple[bytes, ...] = ()
    """Runs of character classes of which every match contains one, in the text's
    :func:`shape` (``AA00`` for an IBAN: two letters, two digits); tested before any regex."""
    lower_prefilter: tuple[str, ...] = ()
    """Lower-case substrings tested against the lower-cased text, beside ``prefilter``
    (a match is possible when either finds one): words matched case-insensitively."""
    extend_left: frozenset[str] = frozenset()
    """Characters a match extends over to its left, at most ``extend_max`` of them
    (an email is found at its ``@`` and grows over its local part): patterns then
    start at a rare character instead of at every letter."""
    extend_max: int = 0
    parts: tuple[Detector, ...] = ()
    """Detectors this one is the union of, each behind its own cheap tests (the
    credential shapes): its spans are theirs, merged; ``pattern`` is unused."""
    block: tuple[str, re.Pattern[str]] | None = None
    """``(opening, closing)``: in :meth:`finditer`, a match that starts with ``opening``
    runs through the next match of ``closing`` (or to the end of the text), so
    redaction covers a whole PEM block, not just its header line."""
    raw: bool = False
    """Also scan the text as written, not only its normalised forms (user-written
    patterns may rely on what normalisation changes: tabs, case of a digit script)."""
    uncovers: Callable[[str, Sequence[tuple[int, int]]], bool] | None = None
    """Whether placeholders at these ``[p, q)`` of an ASCII text may make a match the
    text did not hold before (see :func:`count_after_redaction`); None: assume they may."""

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans ``(start, end)`` of validated matches in ``text``."""
        if self.needs_digit and not has_digit(text):
            return
        spans = self._union(text, None) if self.parts else self._scan(text, None)
        if self.block is None:
            yield from spans
            return
        opening, closing = self.block
        # The next closing match after a position, found once per region: many
        # openings without a closing cost one scan, not one each.
        found: tuple[int, int] = (-1, -1)  # (searched from, end of the closing match or -1)
        for a, b in spans:
            if text.startswith(opening, a):
                if not (found[0] != -1 and found[0] <= b and (found[1] == -1 or found[1] > b)):
                    m = closing.search(text, b)
                    found = (b, m.end() if m else -1)
                b = len(text) if found[1] == -1 else found[1]
            yield a, b

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
        if self.parts:
            return len(self._union(text, windows))
        n = 0
        for _ in self._scan(text, windows):
            n += 1
        return n

    def spans(
        self,
        text: str,
        digits: bool | None = None,
        windows: dict[int, Any] | None = None,
    ) -> list[tuple[int, int]]:
        """:meth:`finditer` as a list, with :meth:`count`'s shared per-text facts
        (what classification finds, when it also wants the spans)."""
        if self.block is not None:
            return list(self.finditer(text))
        if self.needs_digit and not (has_digit(text) if digits is None else digits):
            return []
        if self.parts:
            return self._union(text, windows)
        return list(self._scan(text, windows))

    def _union(self, text: str, windows: dict[int, Any] | None) -> list[tuple[int, int]]:
        """The parts' spans, sorted, overlapping ones merged (a bearer JWT is one match)."""
        spans: list[tuple[int, int]] = []
        has = text.__contains__
        for part in self.parts:
            # The gate and a case-sensitive prefilter inline (the tests _scan starts
            # with): most parts stop here, before a generator is made.
            if part.gate and not any(map(has, part.gate)):
                continue
            if part.lower_prefilter:
                # Folded tests hold on ASCII only (see _scan); the lowered text is shared.
                if (
                    not part.prefilter
                    and text.isascii()
                    and not any(map(_lower_of(text, windows).__contains__, part.lower_prefilter))
                ):
                    continue
            elif part.prefilter and not part.fold_prefilter and not any(map(has, part.prefilter)):
                continue
            spans.extend(part._scan(text, windows))
        if len(spans) < 2:
            return spans
        spans.sort()
        out = [spans[0]]
        for a, b in spans[1:]:
            if a < out[-1][1]:
                if b > out[-1][1]:
                    out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        return out

    def _scan(self, text: str, windows: dict[int, Any] | None) -> Iterator[tuple[int, int]]:
        if self.gate and not any(map(text.__contains__, self.gate)):
            return
        if self.prefilter or self.lower_prefilter:
            # str.lower() and the regex engine's case folding agree on ASCII only:
            # a folded test must not hide a match in other text, so there it is skipped.
            folds = self.fold_prefilter or bool(self.lower_prefilter)
            if text.isascii() or not folds:
                hay = _lower_of(text, windows) if self.fold_prefilter else text
                # map over the bound method: no generator frame per test.
                found = any(map(hay.__contains__, self.prefilter))
                if not found and self.lower_prefilter:
                    low = _lower_of(text, windows)
                    found = any(map(low.__contains__, self.lower_prefilter))
                if not found:
                    return
        if self.min_digits or self.shape or self.window is not None:
            shaped, ndigits = _shape_of(text, windows)
            if ndigits < self.min_digits:
                return
            if self.shape and not any(s in shaped for s in self.shape):
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
        reach = self.window_reach
        lead = self.window_lead
        for a, b, digits in spans:
            if digits < fewest:
                continue
            if reach:
                # The window marks where a match starts: try just there, so windows
                # closer together than a match is long never report it twice.
                m = self.pattern.match(text, a, min(size, a + reach))
                if m is not None:
                    yield from self._valid((m,), text)
            else:
                yield from self._matches(text, max(0, a - lead), min(size, b + 1))

    def _matches(self, text: str, pos: int, end: int) -> Iterator[tuple[int, int]]:
        """Validated matches in ``text[pos:end]``."""
        if self.refine is None:
            return self._valid(self.pattern.finditer(text, pos, end), text)
        return self._refined(text, pos, end)

    def _refined(self, text: str, pos: int, end: int) -> Iterator[tuple[int, int]]:
        """Spans a ``refine`` cuts out of runs; the search resumes where the last span
        ended, not where its run did, so an IBAN right after another is found too."""
        search, refine, g = self.pattern.search, self.refine, self.group
        while refine is not None and pos < end:
            m = search(text, pos, end)
            if m is None:
                return
            base = m.start(g)
            last = -1
            for a, b in refine(m.group(g)):
                yield base + a, base + b
                last = base + b
            # Always forward: past the run, or past the last span found in it.
            pos = m.end() if last < 0 or last >= m.end() else last
            if pos <= m.start():
                pos = m.start() + 1

    def _valid(self, found: Iterable[re.Match[str]], text: str) -> Iterator[tuple[int, int]]:
        """The validated spans of regex matches (refined, grown, checked)."""
        check = self.validate
        refine = self.refine
        g = self.group
        grow = self.extend_left
        for m in found:
            if refine is not None:
                base = m.start(g)
                for a, b in refine(m.group(g)):
                    yield base + a, base + b
                continue
            a, b = m.span(g)
            if grow:
                # Bounded walk: at most extend_max characters per match.
                stop = max(0, a - self.extend_max)
                while a > stop and text[a - 1] in grow:
                    a -= 1
                if a == m.start(g):
                    continue
            if check is None or check(text[a:b]):
                yield a, b

    def __repr__(self) -> str:
        return f"Detector({self.name!r}, label={self.label!r})"


# --- per-text facts shared by detectors -------------------------------------

_SHAPES = bytes.maketrans(
    bytes(range(65, 91)) + bytes(range(97, 123)) + b"0123456789",
    b"A" * 52 + b"0" * 10,
)
# Slots in the per-text cache (its other keys are ids of patterns: never 0 or 1).
_SHAPE_KEY = 0
_LOWER_KEY = 1


def shape(text: str) -> bytes:
    """``text`` with ASCII letters as ``A`` and digits as ``0`` (anything non-ASCII
    as ``?``), one byte per character: byte-level tests on it run at C speed."""
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


def scan_forms(text: str, raw: bool = True) -> list[tuple[str, bool]]:
    """The forms of ``text`` detectors scan, each flagged normalised or not.

    Every decoded form (:func:`~router.policy.normalize.variants`) is
    normalised (:func:`~router.policy.normalize.normalize`); with ``raw``, the
    forms as written are added where they differ, for detectors with ``raw``
    set (user-written patterns).
    """
    out: list[tuple[str, bool]] = []
    for form in variants(text):
        norm = normalize(form)
        out.append((norm, True))
        if raw and norm != form:
            out.append((form, False))
    return out


# --- matches a redaction can uncover ----------------------------------------


def count_after_redaction(det: Detector, text: str, placeholders: Sequence[tuple[int, int]]) -> int:
    """:meth:`Detector.count` of ``text``, a redacted text that knows how it was made.

    ``text`` must be ASCII and its own normal form, and have been its own normal
    form before *every* match of ``det`` in it was replaced by the placeholders
    at ``placeholders``. Then a match it holds now was not there before: it
    depends on a placeholder — it touches one, or what the pattern looks at
    around it (a look-behind, an email's domain, a phone number's run of digits
    and separators) reaches one. Elsewhere the text is as it was, and there
    every match was replaced. So when ``det.uncovers`` says of no placeholder
    that it may make one, there is none (no scan); otherwise the whole text is
    scanned.
    """
    if det.uncovers is not None and not det.uncovers(text, placeholders):
        return 0
    return det.count(text)


_WALK = 64
"""Characters a test below looks at on each side of a placeholder before it gives
up and lets the whole text be scanned."""

_PHONE_SEPARATORS = " .()/+-"
_PHONE_RUN = frozenset("0123456789" + _PHONE_SEPARATORS)
"""What the phone detector's window runs over (``_PHONE_WINDOW`` on the text's shape)."""


def _email_uncovers(text: str, placeholders: Sequence[tuple[int, int]]) -> bool:
    # No email without an at sign, and a placeholder holds none.
    return "@" in text


def _phone_uncovers(text: str, placeholders: Sequence[tuple[int, int]]) -> bool:
    # Matches are searched only inside maximal runs of digits and separators
    # holding digits, from one character before the run's first digit (a
    # look-behind one further) to one character after the run. A run whose
    # digits and those characters are the text's as before holds the matches
    # it held before. The brackets end runs: the runs a placeholder can change
    # are the one ending at its "[" and the one starting at or one after its
    # "]"; without a digit neither holds a match. Walking away from the
    # placeholder over separators, the first other character tells: a digit
    # (the run holds one), or anything else (the run ends without one).
    size = len(text)
    seps = _PHONE_SEPARATORS
    for p, q in placeholders:
        i = p - 1
        stop = i - _WALK if i >= _WALK else -1
        while i > stop and text[i] in seps:
            i -= 1
        if i > stop:
            if "0" <= text[i] <= "9":
                return True
        elif i >= 0:
            return True  # a run too long to follow: scan
        j = q if q < size and text[q] in _PHONE_RUN else q + 1
        end = j + _WALK if j + _WALK < size else size
        while j < end and text[j] in seps:
            j += 1
        if j < end:
            if "0" <= text[j] <= "9":
                return True
        elif end < size:
            return True
    return False


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


_DIGIT_GROUP = re.compile(r"[0-9]++")


def _card_spans(run: str) -> list[tuple[int, int]]:
    """Card numbers inside a run of digit groups (single spaces or dashes between).

    A card starts at a group boundary and ends at one, and is a number a card
    network issues (:mod:`router.policy.cards`: its ranges and lengths, 12 to
    19 digits, and Luhn). The longest valid candidate from each start wins; so
    "4111 1111 1111 1111 12/29" yields the card, not 18 digits.
    """
    # The network tables are built on first use: importing the router stays cheap.
    from .cards import card_spans

    found = [m.span() for m in _DIGIT_GROUP.finditer(run)]
    return [(found[a][0], found[b][1]) for a, b in card_spans([run[x:y] for x, y in found])]


def _card_digits_valid(digits: str) -> bool:
    # The network tables are built on first use: importing the router stays cheap.
    from .cards import card_digits_valid

    return card_digits_valid(digits)


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


@cache
def _iban_lengths() -> dict[str, int]:
    """IBAN length per country, from python-stdnum's copy of the ISO 13616 registry."""
    from stdnum import numdb

    out: dict[str, int] = {}
    # Entries are (length, low, high, {"bban": "8!n10!n", ...}, sub-entries).
    for _, low, high, info, _ in numdb.get("iban").prefixes:
        bban = info.get("bban", "")
        if low == high and len(low) == 2 and bban:
            out[low.upper()] = 4 + sum(int(n) for n in re.findall(r"([0-9]+)!?[acen]", bban))
    return out


def iban_valid(s: str) -> bool:
    """A registered country's IBAN: its length and BBAN structure, the ISO 7064 mod-97
    checksum and the country's own check where it has one (python-stdnum)."""
    from stdnum import iban

    return bool(iban.is_valid(s.replace(" ", "").upper()))


def _iban_spans(run: str) -> list[tuple[int, int]]:
    """The IBAN at the start of ``run``: as many characters as its country's IBAN has,
    ending at a group boundary, with a valid checksum (an uppercase word that
    follows the IBAN is not part of it)."""
    want = _iban_lengths().get(run[:2].upper())
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


def _email_valid(s: str) -> bool:
    # The domain's last label is a top-level domain: letters (any script), or an
    # internationalised one in its ASCII form (xn--…).
    tld = s.rpartition(".")[2]
    return (2 <= len(tld) <= 63 and tld.isalpha()) or tld.lower().startswith("xn--")


def _has_digit_and_letter(s: str) -> bool:
    return has_digit(s) and any(c.isalpha() for c in s)


def _basic_valid(token: str) -> bool:
    # HTTP Basic credentials are base64 of "user:password".
    import base64
    import binascii

    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded and decoded.isascii()


def _credential_valid(s: str) -> bool:
    """Checks for the credential shapes that prose could imitate."""
    head = s[:6].lower()
    if head.startswith(("rk-", "pk-")):
        return _has_digit_and_letter(s[3:])  # kebab-case words are not keys
    if head.startswith("bearer"):
        return _has_digit_and_letter(s[7:])
    if head.startswith("basic"):
        return _basic_valid(s[6:].rstrip("="))
    if head.startswith("author"):
        return _has_digit_and_letter(s.rpartition(" ")[2]) or _basic_valid(
            s.rpartition(" ")[2].rstrip("=")
        )
    return True


# --- built-in detectors -----------------------------------------------------

# Every pattern runs on normalised text (single spaces, ASCII digits and dashes)
# and in time linear in it: unbounded repeats are possessive (no backtracking
# into them) and each alternative starts at a literal or behind a lookbehind
# that rejects starts inside a run the previous start already covered.
# tests/test_policy_linear.py checks both on every built-in pattern.

# A run of 12+ digits with single separators; _card_spans finds the cards in it.
_CARD = r"[0-9](?<![0-9][0-9])(?<![0-9][ -][0-9])(?:[ -]?+[0-9]){11,}+"
_SSN = r"[0-9](?<![0-9-][0-9])[0-9]{2}([- ])[0-9]{2}\1[0-9]{4}(?![0-9-])"
_IBAN = r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z][0-9]{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"
# Found at its "@": the local part is grown leftwards (Detector.extend_left).
_EMAIL = r"@(?<=[\w.+-]@)[\w-]++(?:\.[\w-]++)++"
_EMAIL_LOCAL = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-!#$%&'*/=?^`{|}~"
)
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


@dataclass(frozen=True, slots=True)
class CredentialShape:
    """One credential shape: its regex and the cheap tests that gate it."""

    what: str
    pattern: str
    """Starts with the shape's literal (the regex engine then skips to it at C
    speed); the left boundary is a lookbehind placed after that literal."""
    gate: str = ""
    """Characters of which one must occur (single-character searches)."""
    needles: tuple[str, ...] = ()
    """Substrings of which one must occur, as written."""
    words: tuple[str, ...] = ()
    """Lower-case words of which one must occur in the lower-cased text."""


# Keys may be glued to a variable name (OPENAI_KEY=sk-…, AWS_KEY_AKIA…): the left
# boundary is any character but a letter or digit, "_" included.
CREDENTIAL_PATTERNS: tuple[CredentialShape, ...] = (
    CredentialShape(
        "openai/anthropic key", r"sk-(?<![A-Za-z0-9]...)[A-Za-z0-9_-]{20,}+", "-", ("sk-",)
    ),
    CredentialShape(
        "restricted/public key",
        r"[rp]k-(?<![A-Za-z0-9]...)[A-Za-z0-9_-]{16,}+",
        "-",
        ("rk-", "pk-"),
    ),
    CredentialShape(
        "stripe key",
        r"[srp]k_(?:live|test)_(?<![A-Za-z0-9]........)[A-Za-z0-9]{10,}+",
        "_",
        ("k_live_", "k_test_"),
    ),
    CredentialShape(
        "aws access key id",
        r"A[KSB]IA(?<![A-Za-z0-9]....)[0-9A-Z]{16}(?![0-9A-Za-z])",
        "I",
        ("IA",),
    ),
    CredentialShape("github token", r"gh[pousr]_(?<![A-Za-z0-9]....)[A-Za-z0-9]{30,}+", "_"),
    CredentialShape(
        "github fine-grained token",
        r"github_pat_(?<![A-Za-z0-9]...........)[A-Za-z0-9_]{30,}+",
        "_",
    ),
    CredentialShape(
        "slack token", r"xox[abposr]-(?<![A-Za-z0-9].....)[A-Za-z0-9-]{10,}+", "-", ("xox",)
    ),
    CredentialShape(
        "google api key",
        r"AIza(?<![A-Za-z0-9]....)[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
        "I",
        ("AIza",),
    ),
    # Header and payload suffice: they carry the claims; the signature may be cut off.
    CredentialShape(
        "jwt",
        r"eyJ(?<![A-Za-z0-9_-]...)[A-Za-z0-9_-]{8,4096}+\.eyJ[A-Za-z0-9_-]{8,}+"
        r"(?:\.[A-Za-z0-9_-]++)?+",
        "J",
        ("eyJ",),
    ),
    # The header line alone: what follows it is the key (redaction runs to END).
    CredentialShape(
        "private key",
        r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----",
        "-",
        ("-----BEGIN",),
    ),
    CredentialShape(
        "bearer token or basic credentials",
        r"(?:(?i:bearer)(?<![A-Za-z0-9]......) [A-Za-z0-9._~+/-]{16,}+"
        r"|(?i:basic)(?<![A-Za-z0-9].....) [A-Za-z0-9+/]{8,}+)",
        words=("bearer", "basic"),
    ),
    CredentialShape(
        "authorization header",
        r"(?i:authorization)(?<![A-Za-z0-9].............)[\"']? ?[:=] ?[\"']?"
        r"(?:[A-Za-z]{1,20} )?[A-Za-z0-9._~+/=-]{8,}+",
        ":=",
        words=("authorization",),
    ),
    CredentialShape("url credentials", r"://[^\s/:@]{1,64}:[^\s/@]{1,128}@", ":", ("://",)),
)
"""Credential shapes: one list for detection and for span redaction."""

_PRIVATE_KEY_END = r"-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----"


# Every phone number is made of digits, "+", "()" and separators, and starts at
# its first digit or one character before it ("+", "("): the pattern (whose
# leading lookbehind defeats the regex engine's skipping) runs only inside such
# runs of 7+ digits, found on the shape from a literal "0" (a fast search).
_PHONE_WINDOW = rb"0[0 .()/+-]*+"

# Where an IBAN can start, on the shape: two letters then two digits.
_IBAN_WINDOW = rb"AA00"

# Runs of digits with single-character separators: every card number and SSN
# lies inside one, and prose holds few, so one scan serves both detectors. It
# runs on the shape, where every ASCII digit is ``0``.
_DIGIT_RUN = rb"0(?:[ -]?+0){8,}+"


@cache
def _digit_run() -> re.Pattern[bytes]:
    # One object for card and SSN: the per-text window cache is keyed by its id.
    return re.compile(_DIGIT_RUN)


# One factory per built-in detector: a config compiles only the patterns it uses.
_BUILTIN: dict[str, Callable[[], Detector]] = {
    "email": lambda: Detector(
        "email",
        "EMAIL",
        re.compile(_EMAIL),
        _email_valid,
        prefilter=("@",),
        extend_left=_EMAIL_LOCAL,
        extend_max=64,
        uncovers=_email_uncovers,
    ),
    "phone": lambda: Detector(
        "phone",
        "PHONE",
        re.compile(_PHONE),
        _phone_valid,
        needs_digit=True,
        window=re.compile(_PHONE_WINDOW),
        window_lead=1,
        window_min=7,
        min_digits=7,
        uncovers=_phone_uncovers,
    ),
    "payment_card": lambda: Detector(
        "payment_card",
        "CARD",
        re.compile(_CARD),
        refine=_card_spans,
        needs_digit=True,
        window=_digit_run(),
        window_min=12,
        min_digits=12,
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
        "iban",
        "IBAN",
        re.compile(_IBAN),
        refine=_iban_spans,
        needs_digit=True,
        shape=(b"AA00",),
        window=re.compile(_IBAN_WINDOW),
        window_reach=48,  # 34 characters at most, with a space every four
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
        re.compile(r"(?!)"),
        parts=tuple(
            Detector(
                "credential",
                "CREDENTIAL",
                re.compile(c.pattern),
                _credential_valid,
                gate=c.gate,
                prefilter=c.needles,
                lower_prefilter=c.words,
            )
            for c in CREDENTIAL_PATTERNS
        ),
        block=("-----BEGIN", re.compile(_PRIVATE_KEY_END)),
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
            return Detector(name, _label(name), pattern, raw=True)
        # A literal every match starts with is a cheap substring test that
        # skips the regex scan on the (usual) text without it.
        fold = not d.case_sensitive
        return Detector(
            name,
            _label(name),
            pattern,
            prefilter=(lead.lower() if fold else lead,),
            fold_prefilter=fold,
            raw=True,
        )
    if d.detector == "keywords":
        # Keywords are matched in the normalised text, so they are normalised too
        # (a full-width or tab-separated keyword in the config still matches).
        words = sorted({normalize(w) for w in d.keywords or ()} - {""}, key=len, reverse=True)
        if not words:
            raise ConfigError("a keywords detector needs a non-empty 'keywords' list", key=key)
        if d.pattern:
            raise ConfigError("a keywords detector takes no 'pattern'", key=key)
        # Any run of whitespace between a keyword's words (normalised text has one space).
        alts = "|".join(r"\s++".join(map(re.escape, w.split(" "))) for w in words)
        flags = 0 if d.case_sensitive else re.IGNORECASE
        pattern = re.compile(rf"(?<!\w)(?:{alts})(?!\w)", flags)
        pre = tuple(words) if d.case_sensitive else tuple(w.lower() for w in words)
        return Detector(
            name, _label(name), pattern, prefilter=pre, fold_prefilter=not d.case_sensitive
        )
    raise ConfigError(
        f"unknown detector {d.detector!r}; built-in: {', '.join(BUILTIN_NAMES)}, national_id, "
        "or 'regex' / 'keywords'",
        key=f"{key}.detector",
    )


def _national_id(countries: tuple[str, ...] | None, name: str | None, key: str) -> Detector:
    # Loaded only for a config that asks for national identifiers.
    from .national_ids import SUPPORTED_COUNTRIES, national_id_detector

    codes = tuple(SUPPORTED_COUNTRIES) if countries is None else countries
    if not codes:
        raise ConfigError("'countries' is empty", key=key)
    try:
        return national_id_detector(codes, name=name or "national_id")
    except ValueError as e:
        raise ConfigError(str(e), key=key) from None


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
        if d.countries is not None and d.detector != "national_id":
            raise ConfigError(
                "'countries' applies to the national_id detector only",
                key=f"sensitivity.detect.{i}.countries",
            )
        if d.detector == "national_id":
            if d.pattern or d.keywords:
                raise ConfigError(
                    "built-in detector 'national_id' takes no pattern or keywords",
                    key=f"sensitivity.detect.{i}",
                )
            det = _national_id(d.countries, d.name, f"sensitivity.detect.{i}.countries")
        elif d.detector in _BUILTIN:
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
