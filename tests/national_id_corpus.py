"""A generated corpus for the ``national_id`` detector: valid identifiers and look-alikes.

Every identifier is built here from random parts with its check characters
computed by this module's own implementation of the published algorithm
(not by python-stdnum, which the detector validates with), so the two
implementations check each other. Each country lists the formats people
write its identifier in; :func:`positives` puts them in sentences.

:data:`NEGATIVES` makes text that must not count: order and invoice numbers,
phone numbers, dates, amounts, random digit strings and alphanumeric codes.

Everything takes a :class:`random.Random`, so a seed reproduces the corpus.
Shared by ``tests/test_policy_national_ids.py`` and
``benchmarks/detector_accuracy.py``.
"""

from __future__ import annotations

import datetime
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

Rng = random.Random
Make = Callable[[Rng], str]

DIGITS = string.digits
UPPER = string.ascii_uppercase


@dataclass(frozen=True)
class Kind:
    """One country's identifier written one way."""

    country: str
    fmt: str
    make: Make
    """A valid identifier, written in this format."""
    check_at: int = -1
    """Index of a check character in the written form: changing it must make the
    identifier invalid."""
    checksum: bool = True
    """False where the identifier has no check character (UK NINO): then
    :func:`corrupt` breaks a structural rule instead."""


# --- helpers ----------------------------------------------------------------


def _date(rng: Rng, first: int = 1930, last: int = 2015) -> datetime.date:
    lo = datetime.date(first, 1, 1).toordinal()
    hi = datetime.date(last, 12, 31).toordinal()
    return datetime.date.fromordinal(rng.randint(lo, hi))


def digits(rng: Rng, n: int) -> str:
    """``n`` random decimal digits."""
    return "".join(rng.choice(DIGITS) for _ in range(n))


def _letters(rng: Rng, n: int, alphabet: str = UPPER) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _ymd(d: datetime.date) -> str:
    return f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"


def _dmy(d: datetime.date) -> str:
    return f"{d.day:02d}{d.month:02d}{d.year % 100:02d}"


def luhn_digit(body: str) -> str:
    """The digit that makes ``body`` + digit pass the Luhn check."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:  # doubled: the body's last digit sits next to the check digit
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str(-total % 10)


def _weighted(body: str, weights: tuple[int, ...]) -> int:
    return sum(w * int(c) for w, c in zip(weights, body, strict=False))


def _group(s: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(s[i : i + n])
        i += n
    return sep.join(out)


# --- one generator per identifier --------------------------------------------

_FR_DEPTS = ("01", "13", "33", "59", "69", "75", "78", "92", "2A", "2B", "971", "974")


def _nir_parts(rng: Rng, depts: tuple[str, ...] = _FR_DEPTS) -> list[str]:
    """France: sex, year, month, department, commune, serial, key (97 - n mod 97)."""
    d = _date(rng)
    dept = rng.choice(depts)
    commune = digits(rng, 5 - len(dept))
    parts = [rng.choice("12"), f"{d.year % 100:02d}", f"{d.month:02d}", dept, commune]
    parts.append(f"{rng.randint(1, 999):03d}")
    body = "".join(parts)
    # Corsica's departments count as 19 (2A) and 18 (2B) in the key.
    numeric = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7]) + body[7:]
    parts.append(f"{97 - int(numeric) % 97:02d}")
    return parts


# Values of the characters in odd positions (1st, 3rd, ...): digits and letters
# share a table (0 and A are 1, 1 and B are 0, ...); even positions count plainly.
_CF_ODD_VALUES = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10)
_CF_ODD_VALUES += (22, 25, 24, 23)
_CF_ODD = dict(zip(UPPER, _CF_ODD_VALUES, strict=True)) | dict(
    zip(DIGITS, _CF_ODD_VALUES[:10], strict=True)
)
_CF_EVEN = {c: (int(c) if c.isdigit() else ord(c) - 65) for c in DIGITS + UPPER}
_CONSONANTS = "BCDFGHJKLMNPQRSTVWXZ"
_VOWELS = "AEIOU"


def codice_fiscale(rng: Rng, omocodia: int = 0) -> str:
    """Italy: surname, name, year, month letter, day (+40 for women), place, check letter.

    ``omocodia`` digits, from the right, are replaced by their letters (LMNPQRSTUV),
    as the agency does when two people would otherwise share a code.
    """
    d = _date(rng)
    day = d.day + (40 if rng.random() < 0.5 else 0)
    place = rng.choice("ABCDEFGHILMZ") + digits(rng, 3)
    chars = list(
        _letters(rng, 6, _CONSONANTS)
        + f"{d.year % 100:02d}"
        + "ABCDEHLMPRST"[d.month - 1]
        + f"{day:02d}"
        + place
    )
    for pos in (14, 13, 12, 10, 9, 7, 6)[:omocodia]:
        chars[pos] = "LMNPQRSTUV"[int(chars[pos])]
    body = "".join(chars)
    total = sum((_CF_ODD if i % 2 == 0 else _CF_EVEN)[c] for i, c in enumerate(body))
    return body + chr(65 + total % 26)


def bsn(rng: Rng) -> str:
    """Netherlands: 9 digits, sum of digit times 9..2 minus the last ≡ 0 (mod 11)."""
    while True:
        body = digits(rng, 8)
        check = _weighted(body, (9, 8, 7, 6, 5, 4, 3, 2)) % 11
        if check < 10 and body.strip("0"):
            return body + str(check)


def personnummer(rng: Rng, centenarian: bool = False) -> tuple[datetime.date, str]:
    """Sweden: birth date and YYMMDD + serial + Luhn digit (10 digits)."""
    d = _date(rng, 1905, 1925) if centenarian else _date(rng)
    body = _ymd(d) + digits(rng, 3)
    return d, body + luhn_digit(body)


def pesel(rng: Rng) -> str:
    """Poland: YYMMDD (month +20 after 2000), 4 digits, weighted check digit."""
    d = _date(rng)
    month = d.month + (20 if d.year >= 2000 else 0)
    body = f"{d.year % 100:02d}{month:02d}{d.day:02d}" + digits(rng, 4)
    return body + str(-_weighted(body, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)) % 10)


_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def hetu(rng: Rng, signs: str) -> str:
    """Finland: DDMMYY, century sign, individual number, check character (mod 31).

    ``signs`` are the century signs to choose from ("-YXWVU" for 1900s, "ABCDEF"
    for 2000s, "+" for 1800s); the birth year is drawn from that century.
    """
    sign = rng.choice(signs)
    if sign == "+":
        d = _date(rng, 1850, 1899)
    elif sign in "-YXWVU":
        d = _date(rng, 1930, 1999)
    else:
        d = _date(rng, 2000, 2015)
    ind = f"{rng.randint(2, 899):03d}"
    return _dmy(d) + sign + ind + _HETU_CHECK[int(_dmy(d) + ind) % 31]


def fodselsnummer(rng: Rng, d_number: bool = False) -> str:
    """Norway: DDMMYY (day +40 for a D-number), individual number, two mod-11 digits."""
    while True:
        d = _date(rng, 1940, 2015)
        ind = rng.randint(0, 499) if d.year < 2000 else rng.randint(500, 999)
        body = f"{d.day + (40 if d_number else 0):02d}{d.month:02d}{d.year % 100:02d}{ind:03d}"
        k1 = -_weighted(body, (3, 7, 6, 1, 8, 9, 4, 5, 2)) % 11
        if k1 == 10:
            continue
        body += str(k1)
        k2 = -_weighted(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)) % 11
        if k2 != 10:
            return body + str(k2)


def cpf(rng: Rng) -> str:
    """Brazil: 9 digits and two mod-11 check digits."""
    body = digits(rng, 9)
    for _ in range(2):
        n = len(body) + 1
        r = sum((n - i) * int(c) for i, c in enumerate(body)) % 11
        body += "0" if r < 2 else str(11 - r)
    return body


_RO_COUNTIES = (*(f"{i:02d}" for i in range(1, 47)), "51", "52")


def cnp(rng: Rng) -> str:
    """Romania: sex/century digit, YYMMDD, county, serial, weighted check digit."""
    d = _date(rng)
    sex = rng.choice("12" if d.year < 2000 else "56")
    body = sex + _ymd(d) + rng.choice(_RO_COUNTIES) + f"{rng.randint(1, 999):03d}"
    r = _weighted(body, (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
    return body + ("1" if r == 10 else str(r))


def _baltic(rng: Rng) -> str:
    """Estonia and Lithuania: sex/century digit, YYMMDD, serial, two-pass mod-11 digit."""
    d = _date(rng)
    body = rng.choice("34" if d.year < 2000 else "56") + _ymd(d) + digits(rng, 3)
    r = sum((i % 9 + 1) * int(c) for i, c in enumerate(body)) % 11
    if r == 10:
        r = sum(((i + 2) % 9 + 1) * int(c) for i, c in enumerate(body)) % 11 % 10
    return body + str(r)


_NINO_BAD = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def nino(rng: Rng) -> str:
    """UK: prefix (HMRC's letter rules), 6 digits, suffix A-D. No check character."""
    while True:
        prefix = rng.choice("ABCEGHJKLMNOPRSTWXYZ") + rng.choice("ABCEGHJKLMNPRSTWXYZ")
        if prefix not in _NINO_BAD:
            return prefix + digits(rng, 6) + rng.choice("ABCD")


_ES_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni(rng: Rng) -> str:
    """Spain: 8 digits and the letter for the number mod 23."""
    n = rng.randint(1, 99_999_999)
    return f"{n:08d}{_ES_LETTERS[n % 23]}"


def nie(rng: Rng) -> str:
    """Spain (foreigners): X/Y/Z (read as 0/1/2), 7 digits, letter mod 23."""
    lead = rng.choice("XYZ")
    body = digits(rng, 7)
    return lead + body + _ES_LETTERS[int(str("XYZ".index(lead)) + body) % 23]


def steuer_idnr(rng: Rng) -> str:
    """Germany: 10 digits, one of them twice or three times, ISO 7064 mod 11,10 digit."""
    while True:
        if rng.random() < 0.7:
            chosen = rng.sample(DIGITS, 9)
            body = [*chosen, rng.choice(chosen)]
        else:
            chosen = rng.sample(DIGITS, 8)
            body = [*chosen, *[rng.choice(chosen)] * 2]
        rng.shuffle(body)
        if body[0] != "0":
            break
    product = 10
    for c in body:
        s = (int(c) + product) % 10 or 10
        product = 2 * s % 11
    return "".join(body) + str((11 - product) % 10)


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def aadhaar(rng: Rng) -> str:
    """India: 12 digits, not starting with 0 or 1, Verhoeff check digit."""
    while True:
        body = rng.choice("23456789") + digits(rng, 10)
        c = 0
        for i, ch in enumerate(reversed(body)):
            c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
        number = body + str(_VERHOEFF_INV[c])
        if number != number[::-1]:
            return number


def pan(rng: Rng) -> str:
    """India: 3 letters, holder type (P for a person), initial, 4 digits, letter.

    The last letter's algorithm is not public; stdnum checks the structure."""
    holder = "P" if rng.random() < 0.8 else rng.choice("ABCFGHJKLT")
    return (
        _letters(rng, 3)
        + holder
        + _letters(rng, 1)
        + f"{rng.randint(1, 9999):04d}"
        + _letters(rng, 1)
    )


# Area codes: Beijing's and Shanghai's old districts, and districts created in
# 1983-1992 (Pudong, Nanshan, Wuhou ...) whose codes people born earlier carry.
_CN_AREAS = ("110101", "110105", "310101", "310104", "310115", "440106", "440305", "330106")
_CN_AREAS += ("420106", "510107", "360426", "500103")
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def ric(rng: Rng, want_x: bool = False) -> str:
    """China: area code, YYYYMMDD, serial, ISO 7064 mod 11-2 check (0-9 or X)."""
    while True:
        d = _date(rng, 1940, 2010)
        body = rng.choice(_CN_AREAS) + d.strftime("%Y%m%d") + digits(rng, 3)
        check = "10X98765432"[_weighted(body, _CN_WEIGHTS) % 11]
        if check == "X" or not want_x:
            return body + check


def belgian_nn(rng: Rng) -> str:
    """Belgium: YYMMDD, counter, 97 - n mod 97 (n prefixed with 2 after 2000)."""
    d = _date(rng)
    body = _ymd(d) + f"{rng.randint(1, 997):03d}"
    n = int(("2" if d.year >= 2000 else "") + body)
    return body + f"{97 - n % 97:02d}"


def egn(rng: Rng) -> str:
    """Bulgaria: YYMMDD (month +40 after 2000), serial, weighted mod-11 digit."""
    d = _date(rng)
    month = d.month + (40 if d.year >= 2000 else 0)
    body = f"{d.year % 100:02d}{month:02d}{d.day:02d}" + digits(rng, 3)
    return body + str(_weighted(body, (2, 4, 8, 5, 10, 9, 7, 3, 6)) % 11 % 10)


def ahv(rng: Rng) -> str:
    """Switzerland: 756, 9 digits, EAN-13 check digit."""
    body = "756" + digits(rng, 9)
    return body + str(-_weighted(body, (1, 3) * 6) % 10)


def rodne_cislo(rng: Rng) -> str:
    """Czechia and Slovakia: YYMMDD (month +50 for women), serial, 10 digits ≡ 0 mod 11."""
    d = _date(rng, 1954, 2015)
    month = d.month + (50 if rng.random() < 0.5 else 0)
    body = f"{d.year % 100:02d}{month:02d}{d.day:02d}" + digits(rng, 3)
    return body + str(int(body) % 11 % 10)


def amka(rng: Rng) -> str:
    """Greece: DDMMYY, 4 digits, Luhn digit."""
    body = _dmy(_date(rng)) + digits(rng, 4)
    return body + luhn_digit(body)


_PPS_LETTERS = "WABCDEFGHIJKLMNOPQRSTUV"


def pps(rng: Rng, second: str = "") -> str:
    """Ireland: 7 digits and a mod-23 check letter; a second letter (A/B/H) counts 9 times."""
    body = digits(rng, 7)
    total = sum((8 - i) * int(c) for i, c in enumerate(body))
    if second:
        total += 9 * _PPS_LETTERS.index(second)
    return body + _PPS_LETTERS[total % 23] + second


def kennitala(rng: Rng) -> str:
    """Iceland: DDMMYY, 2 digits, mod-11 check digit, century digit (9 or 0)."""
    while True:
        d = _date(rng)
        body = _dmy(d) + digits(rng, 2)
        check = -_weighted(body, (3, 2, 7, 6, 5, 4, 3, 2)) % 11
        if check != 10:
            return body + str(check) + ("9" if d.year < 2000 else "0")


_MX_STATES = ("AS", "BC", "CH", "DF", "GR", "JC", "MC", "NL", "OC", "PL", "VZ", "YN", "NE")
_MX_ALPHABET = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ"


def curp(rng: Rng) -> str:
    """Mexico: name letters, YYMMDD, sex, state, consonants, homoclave, check digit."""
    d = _date(rng, 1940, 2015)
    # Consonant-vowel-consonant-consonant never spells a word on RENAPO's blocklist.
    name = (
        rng.choice(_CONSONANTS)
        + rng.choice(_VOWELS)
        + _letters(rng, 2, _CONSONANTS.replace("X", ""))
    )
    homoclave = rng.choice(DIGITS) if d.year < 2000 else rng.choice(UPPER)
    body = (
        name
        + _ymd(d)
        + rng.choice("HM")
        + rng.choice(_MX_STATES)
        + _letters(rng, 3, _CONSONANTS)
        + homoclave
    )
    total = sum(_MX_ALPHABET.index(c) * (18 - i) for i, c in enumerate(body))
    return body + str(-total % 10)


def cartao_cidadao(rng: Rng) -> str:
    """Portugal: civil number, its mod-11 digit, 2-letter version, final check digit."""
    civil = digits(rng, 8)
    r = 11 - sum((9 - i) * int(c) for i, c in enumerate(civil)) % 11
    body = civil + str(0 if r >= 10 else r) + "Z" + rng.choice(UPPER)
    total = 0
    for i, c in enumerate(reversed(body)):
        v = int(c, 36)
        if i % 2 == 0:
            v = v * 2 - 9 if v * 2 > 9 else v * 2
        total += v
    return body + str(-total % 10)


def emso(rng: Rng) -> str:
    """Slovenia: DDMMYYY, region 50-59, serial, mod-11 check digit (10 is never issued)."""
    while True:
        d = _date(rng)
        body = f"{d.day:02d}{d.month:02d}{d.year % 1000:03d}5{rng.choice(DIGITS)}" + digits(rng, 3)
        check = -_weighted(body, (7, 6, 5, 4, 3, 2) * 2) % 11
        if check != 10:
            return body + str(check)


def tckimlik(rng: Rng) -> str:
    """Türkiye: 9 digits (no leading 0), then (7·odd - even) mod 10, then sum mod 10."""
    body = rng.choice("123456789") + digits(rng, 8)
    odd = sum(int(c) for c in body[0::2])
    even = sum(int(c) for c in body[1::2])
    body += str((7 * odd - even) % 10)
    return body + str(sum(map(int, body)) % 10)


def sa_id(rng: Rng) -> str:
    """South Africa: YYMMDD, sequence, citizenship (0/1), 8, Luhn digit."""
    body = _ymd(_date(rng)) + digits(rng, 4) + rng.choice("01") + "8"
    return body + luhn_digit(body)


# --- the formats people write ------------------------------------------------


def _as(make: Make, write: Callable[[str], str]) -> Make:
    return lambda r: write(make(r))


def _nir_key_apart(parts: list[str]) -> str:
    return "".join(parts[:-1]) + " " + parts[-1]


def _se_kinds() -> list[Kind]:
    def short(sep: str) -> Make:
        return lambda r: _group(personnummer(r)[1], (6, 4), sep)

    def long(sep: str) -> Make:
        def make(r: Rng) -> str:
            d, n = personnummer(r)
            return f"{d.year // 100}{n[:6]}{sep}{n[6:]}"

        return make

    return [
        Kind("se", "YYMMDD-NNNN", short("-")),
        Kind("se", "YYMMDDNNNN", short("")),
        Kind("se", "YYMMDD NNNN", short(" ")),
        Kind("se", "YYYYMMDDNNNN", long("")),
        Kind("se", "YYYYMMDD-NNNN", long("-")),
        Kind("se", "YYMMDD+NNNN (100+)", lambda r: _group(personnummer(r, True)[1], (6, 4), "+")),
    ]


def _es_kinds() -> list[Kind]:
    return [
        Kind("es", "DNI 12345678Z", dni),
        Kind("es", "DNI 12345678-Z", lambda r: _group(dni(r), (8, 1), "-")),
        Kind("es", "DNI 12.345.678-Z", _as(dni, lambda n: f"{n[:2]}.{n[2:5]}.{n[5:8]}-{n[8]}")),
        Kind("es", "DNI 12345678 Z", lambda r: _group(dni(r), (8, 1), " ")),
        Kind("es", "DNI lower-case", lambda r: dni(r).lower()),
        Kind("es", "NIE X1234567L", nie),
        Kind("es", "NIE X-1234567-L", lambda r: _group(nie(r), (1, 7, 1), "-")),
        Kind("es", "NIE X 1234567 L", lambda r: _group(nie(r), (1, 7, 1), " ")),
        Kind("es", "NIE lower-case", lambda r: nie(r).lower()),
    ]


KINDS: tuple[Kind, ...] = (
    Kind("be", "compact", belgian_nn),
    Kind(
        "be",
        "YY.MM.DD-NNN.CC",
        _as(belgian_nn, lambda n: f"{n[:2]}.{n[2:4]}.{n[4:6]}-{n[6:9]}.{n[9:]}"),
    ),
    Kind("bg", "compact", egn),
    Kind("br", "123.456.789-09", _as(cpf, lambda n: f"{n[:3]}.{n[3:6]}.{n[6:9]}-{n[9:]}")),
    Kind("br", "compact", cpf),
    Kind("br", "123456789-09", lambda r: _group(cpf(r), (9, 2), "-")),
    Kind("ch", "756.NNNN.NNNN.NN", lambda r: _group(ahv(r), (3, 4, 4, 2), ".")),
    Kind("ch", "compact", ahv),
    Kind("cn", "compact", ric),
    Kind("cn", "6 8 4 spaced", lambda r: _group(ric(r), (6, 8, 4), " ")),
    Kind("cn", "X check, lower-case", lambda r: ric(r, want_x=True).lower()),
    Kind("cz", "YYMMDD/NNNN", lambda r: _group(rodne_cislo(r), (6, 4), "/")),
    Kind("cz", "compact", rodne_cislo),
    Kind("de", "compact", steuer_idnr),
    Kind("de", "NN NNN NNN NNN", lambda r: _group(steuer_idnr(r), (2, 3, 3, 3), " ")),
    Kind("ee", "compact", _baltic),
    *_es_kinds(),
    Kind("fi", "classic (- / A)", lambda r: hetu(r, "-A")),
    Kind("fi", "new signs (B-F, U-Y)", lambda r: hetu(r, "BCDEFUVWXY")),
    Kind("fi", "+ (1800s)", lambda r: hetu(r, "+")),
    Kind("fi", "lower-case", lambda r: hetu(r, "-A").lower()),
    Kind("fr", "compact", lambda r: "".join(_nir_parts(r))),
    Kind("fr", "1 85 05 78 006 084 36", lambda r: " ".join(_nir_parts(r))),
    Kind("fr", "key apart", lambda r: _nir_key_apart(_nir_parts(r))),
    Kind("fr", "Corsica 2A/2B spaced", lambda r: " ".join(_nir_parts(r, ("2A", "2B")))),
    Kind("gb", "AB123456C", nino, checksum=False),
    Kind("gb", "AB 12 34 56 C", lambda r: _group(nino(r), (2, 2, 2, 2, 1), " "), checksum=False),
    Kind("gb", "AB 123456 C", lambda r: _group(nino(r), (2, 6, 1), " "), checksum=False),
    Kind("gb", "lower-case", lambda r: nino(r).lower(), checksum=False),
    Kind("gr", "compact", amka),
    Kind("ie", "1234567T", pps),
    Kind("ie", "1234567TA (2013+)", lambda r: pps(r, r.choice("ABH")), check_at=-2),
    Kind("in", "Aadhaar compact", aadhaar),
    Kind("in", "Aadhaar 4 4 4", lambda r: _group(aadhaar(r), (4, 4, 4), " ")),
    Kind("in", "Aadhaar 4-4-4", lambda r: _group(aadhaar(r), (4, 4, 4), "-")),
    Kind("in", "PAN", pan, checksum=False),
    Kind("in", "PAN lower-case", lambda r: pan(r).lower(), checksum=False),
    Kind("is", "DDMMYY-NNNN", lambda r: _group(kennitala(r), (6, 4), "-"), check_at=-2),
    Kind("is", "compact", kennitala, check_at=-2),
    Kind("it", "compact", codice_fiscale),
    Kind("it", "lower-case", lambda r: codice_fiscale(r).lower()),
    Kind("it", "omocodia", lambda r: codice_fiscale(r, omocodia=r.randint(1, 3))),
    Kind("it", "RCCMNL 83S18 D969H", lambda r: _group(codice_fiscale(r), (6, 5, 5), " ")),
    Kind("lt", "compact", _baltic),
    Kind("mx", "compact", curp),
    Kind("mx", "lower-case", lambda r: curp(r).lower()),
    Kind("nl", "compact", bsn),
    Kind("nl", "1234.56.789", lambda r: _group(bsn(r), (4, 2, 3), ".")),
    Kind("nl", "123 456 789", lambda r: _group(bsn(r), (3, 3, 3), " ")),
    Kind("nl", "123-456-789", lambda r: _group(bsn(r), (3, 3, 3), "-")),
    Kind("no", "compact", fodselsnummer),
    Kind("no", "DDMMYY NNNNN", lambda r: _group(fodselsnummer(r), (6, 5), " ")),
    Kind("no", "D-number", lambda r: fodselsnummer(r, d_number=True)),
    Kind("pl", "compact", pesel),
    Kind("pt", "12345678 9 ZZ4", lambda r: _group(cartao_cidadao(r), (8, 1, 3), " ")),
    Kind("pt", "compact", cartao_cidadao),
    Kind("ro", "compact", cnp),
    *_se_kinds(),
    Kind("si", "compact", emso),
    Kind("sk", "YYMMDD/NNNN", lambda r: _group(rodne_cislo(r), (6, 4), "/")),
    Kind("sk", "compact", rodne_cislo),
    Kind("tr", "compact", tckimlik),
    Kind("za", "compact", sa_id),
    Kind("za", "YYMMDD SSSS CA Z", lambda r: _group(sa_id(r), (6, 4, 2, 1), " ")),
)
"""Every (country, format) the detector must find."""

COUNTRIES: tuple[str, ...] = tuple(sorted({k.country for k in KINDS}))

TERMS = {
    "be": "rijksregisternummer",
    "bg": "ЕГН",
    "br": "CPF",
    "ch": "AHV-Nr.",
    "cn": "身份证号码",
    "cz": "rodné číslo",
    "de": "Steuer-ID",
    "ee": "isikukood",
    "es": "DNI/NIE",
    "fi": "henkilötunnus",
    "fr": "numéro de sécurité sociale",
    "gb": "NI number",
    "gr": "AMKA",
    "ie": "PPS number",
    "in": "ID",
    "is": "kennitala",
    "it": "codice fiscale",
    "lt": "asmens kodas",
    "mx": "CURP",
    "nl": "BSN",
    "no": "fødselsnummer",
    "pl": "PESEL",
    "pt": "cartão de cidadão",
    "ro": "CNP",
    "se": "personnummer",
    "si": "EMŠO",
    "sk": "rodné číslo",
    "tr": "T.C. kimlik no",
    "za": "ID number",
}

TEMPLATES = (
    "My {term} is {id}, thanks",
    "{term}: {id}",
    "Please update the record for {id} before Friday.",
    "Customer called about the invoice; {term} {id} is on file.",
    "Attached the form ({id}) as requested",
    "id={id}; status=active",
    "The {term} was {id}.",
    "Ref. {term} - {id} - verified by phone",
    "{id}",
    "{term}{id}",
)
"""Sentences around an identifier. ``{term}{id}`` glues it to the word, as Chinese
("身份证号码110101...") and other scripts write it: only an ASCII letter or digit
next to it rules a candidate out. Templates with ``{term}{id}`` are used only for
non-ASCII terms."""


def positives(kind: Kind, n: int, rng: Rng) -> list[tuple[str, tuple[int, int]]]:
    """``n`` sentences holding one valid identifier of ``kind`` and its span."""
    term = TERMS[kind.country]
    templates = [t for t in TEMPLATES if "{term}{id}" not in t or not term[-1].isascii()]
    out = []
    for _ in range(n):
        ident = kind.make(rng)
        left, right = rng.choice(templates).split("{id}")
        left, right = left.format(term=term), right.format(term=term)
        out.append((left + ident + right, (len(left), len(left) + len(ident))))
    return out


def corrupt(kind: Kind, ident: str, rng: Rng) -> str:
    """``ident`` with its check character replaced (a structural rule broken for
    identifiers without one), so that it is no longer valid."""
    if not kind.checksum:
        if kind.country == "gb":  # D is never a NINO's first letter
            return ("d" if ident[0].islower() else "D") + ident[1:]
        # PAN: a digit where the holder-type letter goes.
        return ident[:3] + "0" + ident[4:]
    i = kind.check_at % len(ident)
    old = ident[i]
    pool = DIGITS if old.isdigit() else (UPPER if old.isupper() else string.ascii_lowercase)
    if kind.country == "cn":
        pool = DIGITS + ("x" if old.islower() or ident.islower() else "X")
    new = rng.choice(pool.replace(old, ""))
    return ident[:i] + new + ident[i + 1 :]


# --- text that must not count --------------------------------------------------


def _order(rng: Rng) -> str:
    return rng.choice(
        (
            f"Order #{digits(rng, rng.randint(6, 14))} has shipped",
            f"order no. {digits(rng, rng.randint(6, 14))}",
            f"Your order {digits(rng, 3)}-{digits(rng, 7)}-{digits(rng, 7)} is on its way",
            f"PO {digits(rng, 10)} approved",
            f"Bestellnummer {digits(rng, rng.randint(8, 13))}",
            f"tracking {digits(rng, 12)}",
        )
    )


def _invoice(rng: Rng) -> str:
    year = rng.randint(2015, 2026)
    return rng.choice(
        (
            f"Invoice INV-{year}-{digits(rng, 6)} is due",
            f"Rechnung Nr. {digits(rng, rng.randint(8, 12))}",
            f"invoice {year}/{digits(rng, 5)}",
            f"Factura F{digits(rng, 8)} pagada",
            f"facture n° {year}{digits(rng, 6)}",
            f"Invoice number {digits(rng, rng.randint(9, 13))} attached",
        )
    )


_CALLING_CODES = ("1", "7", "31", "33", "34", "39", "44", "46", "47", "48", "49", "55", "86", "91")
_CALLING_CODES += ("353", "354", "358", "359", "370", "372", "386", "420", "421")


def _phone_e164(rng: Rng) -> str:
    cc = rng.choice(_CALLING_CODES)
    sub = digits(rng, 12 - len(cc) + rng.randint(-1, 1))
    return rng.choice(
        (
            f"call +{cc}{sub}",
            f"Tel: +{cc} {sub}",
            f"phone +{cc} {_group(sub, (2, 3, 2, 2, 9), ' ').strip()}",
            f"(+{cc}) {sub}",
            f"00{cc} {sub}",
        )
    )


def _phone_national(rng: Rng) -> str:
    return rng.choice(
        (
            f"030 {digits(rng, 8)}",
            f"({digits(rng, 3)}) {digits(rng, 3)}-{digits(rng, 4)}",
            f"{digits(rng, 3)}-{digits(rng, 3)}-{digits(rng, 4)}",
            f"06-{digits(rng, 8)}",
            f"06{digits(rng, 8)}",
            f"0{rng.choice('6789')}{digits(rng, 8)}",
            f"020 {digits(rng, 4)} {digits(rng, 4)}",
            f"07{digits(rng, 3)} {digits(rng, 6)}",
            f"08-{digits(rng, 3)} {digits(rng, 2)} {digits(rng, 2)}",
            f"0{rng.randint(1, 9)} " + _group(digits(rng, 8), (2, 2, 2, 2), " "),
            f"{digits(rng, 3)} {digits(rng, 3)} {digits(rng, 3)}",
            f"{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 2)} {digits(rng, 2)}",
        )
    )


def _date_text(rng: Rng) -> str:
    d = _date(rng, 1950, 2030)
    t = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    ts = rng.randint(0, 2_000_000_000)
    return rng.choice(
        (
            d.isoformat(),
            d.strftime("%d.%m.%Y"),
            d.strftime("%m/%d/%Y"),
            d.strftime("%Y%m%d"),
            d.strftime("%d%m%Y"),
            f"{d.strftime('%d.%m.%Y')} {t}",
            f"{d.isoformat()}T{t}:00Z",
            d.strftime("%Y%m%d") + t.replace(":", "") + f"{rng.randint(0, 59):02d}",
            f"epoch {ts}",
            f"{d.strftime('%d%m%y')}-{t.replace(':', '')}",
        )
    )


def _amount(rng: Rng) -> str:
    n = rng.randint(1_000_000, 99_999_999_999)
    de = f"{n:,}".replace(",", ".")
    fr = f"{n:,}".replace(",", " ")
    return rng.choice((f"EUR {de},{rng.randint(0, 99):02d}", f"${n:,}.00", f"{fr} €", f"{n} USD"))


def _random_digits(rng: Rng) -> str:
    return f"code {digits(rng, rng.randint(6, 20))}"


def _code(rng: Rng) -> str:
    alnum = UPPER + DIGITS
    return rng.choice(
        (
            "1Z" + _letters(rng, 16, alnum),
            f"SKU {_letters(rng, 2)}-{digits(rng, 6)}",
            _letters(rng, rng.randint(8, 18), alnum),
            f"{_letters(rng, 3)}{digits(rng, 7)}",
            f"ticket {_letters(rng, 4)}-{digits(rng, 5)}",
            "-".join(_letters(rng, 5, alnum) for _ in range(4)),
        )
    )


NEGATIVES: dict[str, Make] = {
    "order numbers": _order,
    "invoice numbers": _invoice,
    "phones E.164": _phone_e164,
    "phones national": _phone_national,
    "dates": _date_text,
    "amounts": _amount,
    "random digits": _random_digits,
    "alphanumeric codes": _code,
}
"""Kinds of text that look like identifiers and are not: a generator each."""


def negatives(kind: str, n: int, rng: Rng) -> list[str]:
    """``n`` texts of the negative ``kind``."""
    make = NEGATIVES[kind]
    return [make(rng) for _ in range(n)]
