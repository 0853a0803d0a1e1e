"""The form detectors scan: one spelling for every way of writing the same data.

An attacker (or an unlucky copy-paste) can write a card number in full-width
digits, an SSN with en dashes, an email with a zero-width space in it or a
full-width at sign (U+FF20). A model reads all of these as the plain value, so the
detectors must too. :func:`normalize` maps a text to the form the built-in
patterns are written for:

- Unicode NFKC (full-width and mathematical letters and digits, the full-width
  at sign, the long s, no-break and other compatibility spaces);
- every decimal digit of any script to ASCII (Arabic-Indic, Devanagari, …);
- Unicode tag characters (U+E0020 to U+E007E, "ASCII smuggling") to the ASCII
  character they shadow;
- format characters (category Cf: zero-width spaces and joiners, soft
  hyphens, bidi controls), variation selectors, ASCII control characters and
  combining marks left on an ASCII letter or digit removed;
- every dash (category Pd, the minus sign) to ``-``;
- every run of whitespace (tabs and newlines included) to one space.

:func:`variants` adds the decoded forms a target may still see as plain
text: JSON/JavaScript ``\\u`` escapes, percent-encoding, HTML character
references.

Everything here runs in time linear in the text: ``str`` built-ins and
regular expressions without backtracking. ASCII texts (most traffic) only
have their whitespace collapsed.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "variants"]

# Character lists are written out (Unicode 14, as in Python 3.11) rather than
# derived at import, which would cost a scan of every code point; a test checks
# each against the running interpreter's unicodedata. Digits need no list: the
# regex class [^\D0-9] is every decimal digit but the ASCII ones.

# Format characters (category Cf) in the Basic Multilingual Plane ...
_CF = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
# ... and beyond it, with the tag characters and the supplementary variation selectors.
_CF_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef"
)
# Their UTF-8 prefixes: a C-speed test for "does the text hold any of them".
_CF_ASTRAL_UTF8 = (
    b"\xf3\xa0",
    b"\xf0\x91\x82\xbd",
    b"\xf0\x91\x83\x8d",
    b"\xf0\x93\x90",
    b"\xf0\x9b\xb2",
    b"\xf0\x9d\x85",
)
_VARIATION_SELECTORS = "\ufe00-\ufe0f"
# Whitespace that NFKC leaves as it is (all but the space become one).
_SPACE = "\t\n\x0b\x0c\r\x1c-\x1f\x85\u1680\u2028\u2029"
# Dashes (category Pd) that survive NFKC, and minus signs.
_DASHES = (
    "\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d"
    "\u301c\u3030\u30a0\ufe31\ufe32\ufe58\u2212\u2043\u02d7\U00010ead"
)
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_CONTROL = "\x00-\x08\x0e-\x1b\x7f"

# What the non-ASCII characters of a text are tested against (one class each:
# the regex engine scans for a class at C speed) ...
_ODD_BMP = re.compile(f"[{_CF}{_VARIATION_SELECTORS}{_SPACE}{_DASHES}{_COMBINING}]")
_DIGIT = re.compile(r"[^\D0-9]")
# ... and, when one of them is found, what the whole text is rewritten by.
_ODD = re.compile(
    f"[{_CF}{_VARIATION_SELECTORS}{_SPACE}{_DASHES}{_COMBINING}{_CONTROL}]"
    rf"|[^\D0-9]|[{_CF_ASTRAL}]"
)
_KIND: dict[str, str] = {}
_MARK = "\x00"
# A run of combining marks after an ASCII letter or digit ("5" under a combining
# low line is 5; a stack of two marks hides it no better), judged on the text
# after the other rewrites, so a removed format character between them counts
# for nothing. One pass over the text at C speed.
_MARKS_AFTER_ASCII = re.compile("(?<=[a-zA-Z0-9@.+\\-])[" + _COMBINING + "]+")
_HAS_MARK = re.compile(f"[{_COMBINING}]")
_PASSES = 3
"""Rewrites can make new neighbours (a mark next to a letter, a pair NFKC composes):
the non-ASCII path repeats until nothing changes, at most this many times."""


def _map(ch: str) -> str:
    code = ord(ch)
    if ch.isspace():
        return " "
    if re.match(f"[{_DASHES}]", ch):
        return "-"
    if 0xE0020 <= code <= 0xE007E:
        return chr(code - 0xE0000)  # a tag character reads as the ASCII it shadows
    if ch.isdecimal():
        return str(unicodedata.decimal(ch))
    if re.match(f"[{_COMBINING}]", ch):
        return _MARK  # decided per occurrence: see _odd
    return ""


def _odd(m: re.Match[str]) -> str:
    ch = m.group()
    out = _KIND.get(ch)
    if out is None:
        out = _KIND[ch] = _map(ch)
    if out == _MARK:
        # Decided after every other rewrite: see _MARKS_AFTER_ASCII.
        return ch
    return out


# Every ASCII control character: tabs and line breaks become spaces, the rest go.
_ASCII_ODD = bytes(range(32)) + b"\x7f"
_ASCII_TABLE = {c: (" " if chr(c).isspace() else None) for c in _ASCII_ODD}
_ASCII_ALL = bytes(range(128))


def _collapse(text: str) -> str:
    # Each pass halves every run of spaces: linear in all, C speed each pass.
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def _has_astral(text: str) -> bool:
    # Characters beyond U+FFFF take two UTF-16 code units: a C-speed test.
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def normalize(text: str) -> str:
    """``text`` in the one spelling the detectors match (see the module docstring).

    Positions are not preserved: use it to decide, and redact its result.
    """
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_ODD)) != len(raw):
            text = text.translate(_ASCII_TABLE)
        return _collapse(text)
    for _ in range(_PASSES):
        nfkc = unicodedata.normalize("NFKC", text)
        text = _rewrite(nfkc)
        # Unchanged by the rewrite: NFKC's output is stable, so the text is final.
        if text == nfkc or text.isascii():
            break
    return _collapse(text)


def _rewrite(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    # The non-ASCII characters alone (usually few) are tested for work to do.
    high_utf8 = raw.translate(None, _ASCII_ALL)
    high = high_utf8.decode("utf-8", "surrogatepass")
    if (
        len(raw.translate(None, _ASCII_ODD)) != len(raw)
        or _ODD_BMP.search(high) is not None
        or _DIGIT.search(high) is not None
        or (_has_astral(high) and any(b in high_utf8 for b in _CF_ASTRAL_UTF8))
    ):
        text = _ODD.sub(_odd, text)
        if _HAS_MARK.search(text) is not None:
            text = _MARKS_AFTER_ASCII.sub("", text)
    return text


_JSON_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([\"\\/bfnrt])"
)
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape_one(m: re.Match[str]) -> str:
    hi, lo, u, x, simple = m.groups()
    if hi is not None:
        return chr(0x10000 + ((int(hi, 16) - 0xD800) << 10) + (int(lo, 16) - 0xDC00))
    if u is not None or x is not None:
        code = int(u or x, 16)
        # A lone surrogate escape stays as written: it cannot hide a character.
        return m.group() if 0xD800 <= code <= 0xDFFF else chr(code)
    return _SIMPLE.get(simple, simple)


_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def variants(text: str) -> list[str]:
    """``text``, then (when it holds escapes) the form a target could still read as plain text.

    The decoded form undoes, in turn, ``\\u0040`` / ``\\x40`` / ``\\n`` (JSON and
    JavaScript strings, tool arguments), ``%40`` (URLs and query strings) and
    ``&#64;`` / ``&commat;`` (HTML, with or without the ``;``: browsers and
    ``html.unescape`` read ``&#64`` as ``@`` too). Neither form is normalised here.
    """
    decoded = text
    if "\\" in decoded:
        decoded = _JSON_ESCAPE.sub(_unescape_one, decoded)
    # The decoders load with the first text that needs them (import stays cheap).
    if "%" in decoded and _PERCENT_ESCAPE.search(decoded) is not None:
        from urllib.parse import unquote_plus

        decoded = unquote_plus(decoded)
    if "&" in decoded:  # html.unescape also reads "&#64" with no ";"
        import html

        decoded = html.unescape(decoded)
    return [text] if decoded == text else [text, decoded]
