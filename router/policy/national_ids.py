"""National identifiers (personal id and tax numbers), checksum-validated by python-stdnum.

:func:`national_id_detector` builds one :class:`~router.policy.detectors.Detector`
for a set of countries: every country contributes the shapes its identifier
is written in (compact, grouped with spaces, dots or dashes where that is
customary); the shapes are joined into one compiled regex, and each
candidate it finds must pass the country's own validation in python-stdnum
(check digits, plus the embedded birth date, region or holder type where the
identifier has one). So an order number or a phone number with the right
number of digits counts only when its check digits happen to agree. Two
exceptions: the UK's National Insurance number has no check character and no
stdnum module, so HMRC's letter rules are all that is checked; and a Chinese
RIC's area code need not have existed in the holder's birth year (see
:func:`_cn_valid`).

The text is normalised by the caller (NFKC, ASCII digits, single spaces,
ASCII dashes); letters keep their case, and lower-case forms are accepted
where people write them (codice fiscale, NIE, PAN, HETU).

Scanning takes linear time whatever the input: the regex has no unbounded
repeat, every repeat is bounded by a small constant, and a match may only
start where no letter, digit or number-continuing separator precedes it, so
a megabyte of digits offers one starting position, not a million.
stdnum modules are imported on the first candidate that needs them, so
building a detector, let alone importing :mod:`router`, stays cheap.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType, ModuleType

from .detectors import Detector

__all__ = ["SUPPORTED_COUNTRIES", "national_id_detector"]

Check = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _Format:
    """One written shape of an identifier and the validation of what it matches."""

    regex: str
    check: Check
    lead: str = "00"
    """What every match starts with: ``"00"`` two digits, ``"0"`` a digit (a
    separator may follow), ``"A"`` a letter. The combined regex dispatches on it
    so a position is tried only against shapes that can start there."""


@dataclass(frozen=True, slots=True)
class _Country:
    """A country's identifier(s): the name people know it by and its written shapes."""

    name: str
    formats: tuple[_Format, ...]
    min_digits: int
    """Fewest ASCII digits any of the country's identifiers holds (a cheap text gate)."""


# --- validation -------------------------------------------------------------


@cache
def _stdnum(module: str) -> ModuleType:
    """``stdnum.<module>``, imported on first use."""
    return importlib.import_module(f"stdnum.{module}")


@cache
def _stdnum_is_valid(module: str) -> Check:
    """``stdnum.<module>.is_valid`` (stdnum has no type stubs)."""
    fn: Check = _stdnum(module).is_valid
    return fn


_DROP_SEPARATORS = str.maketrans("", "", " .-/+")


def _compact(s: str) -> str:
    return s.translate(_DROP_SEPARATORS).upper()


def _std(module: str, prepare: Callable[[str], str] = _compact) -> Check:
    """A check that hands the prepared candidate to stdnum's ``is_valid``."""

    def check(s: str) -> bool:
        return _stdnum_is_valid(module)(prepare(s))

    return check


def _se_prepare(s: str) -> str:
    # The separator carries meaning in the 10-digit form: "+" says the holder is
    # 100 or older, which moves the birth date a century back. A space stands in
    # for "-" (people write "811228 9874").
    sign = "+" if "+" in s else "-"
    digits = s.translate(_DROP_SEPARATORS)
    return f"{digits[:-4]}{sign}{digits[-4:]}"


def _fi_prepare(s: str) -> str:
    # The century sign is part of the number ("-", "+", "A" ... "Y"): keep it.
    return s.upper()


def _cn_valid(s: str) -> bool:
    """Chinese RIC: check character, birth date and a known area code.

    stdnum also wants the area's county to have existed in the holder's birth
    year. But the first cards (1984-85) carried the codes of the day, so most
    people born before their district was created (Shanghai's Pudong in 1992,
    Chengdu's Wuhou in 1990, ...) hold its code: that rule alone would miss them.
    """
    n = _compact(s)
    ric = _stdnum("cn.ric")
    if ric.is_valid(n):
        return True
    try:
        ric.get_birth_date(n)
    except ValueError:  # stdnum's ValidationError is one
        return False
    if ric.calc_check_digit(n) != n[-1]:
        return False
    areas = _stdnum("numdb").get("cn/loc").info(n[:6])
    return any("county" in props for _, props in areas)


# HMRC's National Insurance number rules (NIM39110): no checksum exists and stdnum
# has no module for it, so the structure is all there is to check.
_NINO_BAD_FIRST = frozenset("DFIQUV")
_NINO_BAD_SECOND = frozenset("DFIOQUV")
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino_valid(s: str) -> bool:
    n = _compact(s)
    return (
        len(n) == 9
        and n[0] not in _NINO_BAD_FIRST
        and n[1] not in _NINO_BAD_SECOND
        and n[:2] not in _NINO_BAD_PREFIX
        and n[8] in "ABCD"
    )


# --- the countries ----------------------------------------------------------

# Optional separator between digit groups where people use spaces, dots or dashes.
_S = "[ .-]?"
# Codice fiscale: a digit or its omocodia letter (LMNPQRSTUV stand for 0-9 when two
# people would get the same code), and the month letters.
_CF_DIGIT = "[0-9LMNPQRSTUVlmnpqrstuv]"
_CF_MONTH = "[ABCDEHLMPRSTabcdehlmprst]"
# DNI/NIE check letters (I, O, U and Ñ are never used). After a space only a
# capital counts: "20240101 a" is prose more often than a DNI.
_ES_LETTER = "[TRWAGMYFPDXBNJZSQVHLCKEtrwagmyfpdxbnjzsqvhlcke]"
_ES_TAIL = f"(?:-?{_ES_LETTER}| [TRWAGMYFPDXBNJZSQVHLCKE])"
# HETU check characters: digits and the letters but G, I, O, Q, Z.
_FI_CHECK = "[0-9A-FHJ-NPR-Ya-fhj-npr-y]"

_COUNTRIES: dict[str, _Country] = {
    "be": _Country(
        "Rijksregisternummer / numéro de registre national",
        (_Format(r"[0-9]{2}\.?[0-9]{2}\.?[0-9]{2}[ .-]?[0-9]{3}[ .-]?[0-9]{2}", _std("be.nn")),),
        11,
    ),
    "bg": _Country("EGN (ЕГН)", (_Format(r"[0-9]{10}", _std("bg.egn")),), 10),
    "br": _Country(
        "CPF (Cadastro de Pessoas Físicas)",
        (_Format(f"[0-9]{{3}}{_S}[0-9]{{3}}{_S}[0-9]{{3}}{_S}[0-9]{{2}}", _std("br.cpf")),),
        11,
    ),
    "ch": _Country(
        "AHV/AVS number (Sozialversicherungsnummer)",
        (_Format(r"756[ .]?[0-9]{4}[ .]?[0-9]{4}[ .]?[0-9]{2}", _std("ch.ssn")),),
        13,
    ),
    "cn": _Country(
        "Resident Identity Card number (居民身份证号码)",
        (
            _Format(
                r"[1-9][0-9]{5} ?(?:1[89]|20)[0-9]{2}[01][0-9][0-3][0-9] ?[0-9]{3}[0-9Xx]",
                _cn_valid,
            ),
        ),
        17,
    ),
    "cz": _Country(
        "Rodné číslo (birth number)", (_Format(r"[0-9]{6}[ /]?[0-9]{4}", _std("cz.rc")),), 10
    ),
    "de": _Country(
        "Steuerliche Identifikationsnummer (Steuer-IdNr)",
        (_Format(r"[0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}", _std("de.idnr")),),
        11,
    ),
    "ee": _Country(
        "Isikukood (personal identification code)", (_Format(r"[0-9]{11}", _std("ee.ik")),), 11
    ),
    "es": _Country(
        "DNI and NIE",
        (
            _Format(
                rf"[0-9]{{2}}(?:\.[0-9]{{3}}\.[0-9]{{3}}|[0-9]{{6}}){_ES_TAIL}", _std("es.dni")
            ),
            _Format(rf"(?:[XYZxyz]-?|[XYZ] )[0-9]{{7}}{_ES_TAIL}", _std("es.nie"), lead="A"),
        ),
        7,
    ),
    "fi": _Country(
        "HETU (henkilötunnus)",
        (
            _Format(
                rf"[0-3][0-9][01][0-9]{{3}}[-+A-FU-Ya-fu-y][0-9]{{3}}{_FI_CHECK}",
                _std("fi.hetu", _fi_prepare),
            ),
        ),
        9,
    ),
    "fr": _Country(
        "NIR (numéro de sécurité sociale)",
        (
            _Format(
                # Sex, year, month, then the birth place: a 2-character department
                # (2A/2B for Corsica) and 3-digit commune, or an overseas 3-digit
                # department and 2-digit commune; serial; 2-digit key.
                f"[1-478]{_S}[0-9]{{2}}{_S}[0-9]{{2}}{_S}"
                f"(?:(?:[0-9]{{2}}|2[ABab]){_S}[0-9]{{3}}|9[78][0-9]{_S}[0-9]{{2}})"
                f"{_S}[0-9]{{3}}{_S}[0-9]{{2}}",
                _std("fr.nir"),
                lead="0",
            ),
        ),
        13,
    ),
    "gb": _Country(
        "National Insurance number (NINO)",
        (
            _Format(
                r"[A-Z]{2}[ -]?[0-9]{2}[ -]?[0-9]{2}[ -]?[0-9]{2}[ -]?[A-D]", _nino_valid, lead="A"
            ),
            # Lower case only written compact: "ab 12 34 56 c" is too close to prose.
            _Format(r"[A-Za-z]{2}[0-9]{6}[A-Da-d]", _nino_valid, lead="A"),
        ),
        6,
    ),
    "gr": _Country("AMKA (social security number)", (_Format(r"[0-9]{11}", _std("gr.amka")),), 11),
    "ie": _Country(
        "PPS number",
        # Capitals only: "1500000w" is a wattage more often than a PPS number.
        (_Format(r"[0-9]{7}[A-W][ABHTWX]?", _std("ie.pps")),),
        7,
    ),
    "in": _Country(
        "Aadhaar and PAN",
        (
            _Format(r"[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}", _std("in_.aadhaar")),
            # The 4th letter is the holder type; stdnum checks it (PAN has no public checksum).
            _Format(
                r"[A-Za-z]{3}[ABCFGHJKLPTabcfghjklpt][A-Za-z][0-9]{4}[A-Za-z]",
                _std("in_.pan"),
                lead="A",
            ),
        ),
        4,
    ),
    "is": _Country("Kennitala", (_Format(r"[0-9]{6}[ -]?[0-9]{4}", _std("is_.kennitala")),), 10),
    "it": _Country(
        "Codice fiscale",
        (
            _Format(
                # The first year digit is the last one omocodia would replace, so
                # requiring a digit there costs nothing and keeps all-letter words out.
                rf"[A-Za-z]{{3}} ?[A-Za-z]{{3}} ?[0-9]{_CF_DIGIT}{_CF_MONTH}{_CF_DIGIT}{{2}}"
                rf" ?[A-Za-z]{_CF_DIGIT}{{3}}[A-Za-z]",
                _std("it.codicefiscale"),
                lead="A",
            ),
        ),
        1,
    ),
    "lt": _Country("Asmens kodas (personal code)", (_Format(r"[0-9]{11}", _std("lt.asmens")),), 11),
    "mx": _Country(
        "CURP",
        (
            _Format(
                r"[A-Za-z]{4}[0-9]{6}[HMhm][A-Za-z]{5}[0-9A-Za-z][0-9]", _std("mx.curp"), lead="A"
            ),
        ),
        7,
    ),
    "nl": _Country(
        "BSN (burgerservicenummer)",
        (
            _Format(r"[0-9]{4}\.[0-9]{2}\.[0-9]{3}", _std("nl.bsn")),
            # Not "123.456.789": that is how Dutch and German write an amount.
            _Format(r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3}", _std("nl.bsn")),
        ),
        9,
    ),
    "no": _Country(
        "Fødselsnummer (national identity number)",
        (_Format(r"[0-9]{6}[ -]?[0-9]{5}", _std("no.fodselsnummer")),),
        11,
    ),
    "pl": _Country("PESEL", (_Format(r"[0-9]{11}", _std("pl.pesel")),), 11),
    "pt": _Country(
        "Cartão de Cidadão number",
        (_Format(r"[0-9]{8} ?[0-9] ?[A-Za-z]{2}[0-9]", _std("pt.cc")),),
        10,
    ),
    "ro": _Country("CNP (cod numeric personal)", (_Format(r"[0-9]{13}", _std("ro.cnp")),), 13),
    "se": _Country(
        "Personnummer",
        (_Format(r"(?:1[89]|20)?[0-9]{6}[-+ ]?[0-9]{4}", _std("se.personnummer", _se_prepare)),),
        10,
    ),
    "si": _Country(
        "EMŠO (unique master citizen number)", (_Format(r"[0-9]{13}", _std("si.emso")),), 13
    ),
    "sk": _Country(
        "Rodné číslo (birth number)", (_Format(r"[0-9]{6}[ /]?[0-9]{4}", _std("sk.rc")),), 10
    ),
    "tr": _Country("T.C. Kimlik No.", (_Format(r"[0-9]{11}", _std("tr.tckimlik")),), 11),
    "za": _Country(
        "South African ID number",
        (_Format(r"[0-9]{6} ?[0-9]{4} ?[0-9]{2} ?[0-9]", _std("za.idnr")),),
        13,
    ),
}

SUPPORTED_COUNTRIES: Mapping[str, str] = MappingProxyType(
    {code: c.name for code, c in sorted(_COUNTRIES.items())}
)
"""Lower-case ISO 3166 alpha-2 code → the identifier(s) :func:`national_id_detector` finds."""


# --- the pattern ------------------------------------------------------------

# A match starts where no letter, digit or "_" precedes it, nor a digit and a
# separator (so never inside "2024-811228-9874" or a longer number), nor a "+"
# (an E.164 phone number) ...
_LEFT = r"(?<![0-9A-Za-z_+])(?<![0-9][./-])"
# ... nor, for a number, an international dialling prefix ("+46 ", "0046 ").
_NOT_AFTER_DIALLING_CODE = (
    r"(?<!\+[0-9] )(?<!\+[0-9]{2} )(?<!\+[0-9]{3} )"
    r"(?<!00[0-9] )(?<!00[0-9]{2} )(?<!00[0-9]{3} )"
)
# It ends where no letter, digit or "_" follows, nor a separator and a digit.
_RIGHT = r"(?![0-9A-Za-z_])(?![./-][0-9])"
# Every letter-led shape has a digit within its first eight characters (codice
# fiscale "RCC MNL 8", NINO "AB 1", NIE "X-2", PAN "ABCPE1", CURP "BOXW3"): a
# word in prose is dismissed here instead of by each letter-led shape in turn.
_LETTER_GATE = r"(?=[A-Za-z]{1,3}[ -]?[A-Za-z]{0,3} ?[0-9])"


def _widths(regex: str) -> tuple[int, int]:
    """The shortest and longest text ``regex`` matches."""
    lo, hi = re._parser.parse(regex).getwidth()  # type: ignore[attr-defined]
    return int(lo), int(hi)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The combined regex for a set of countries, and what validates its candidates."""

    pattern: re.Pattern[str]
    formats: tuple[tuple[re.Pattern[str], int, int, Check], ...]
    """Each selected shape: its full-match pattern, shortest and longest length, check."""
    min_digits: int


@lru_cache(maxsize=32)
def _compile(codes: tuple[str, ...]) -> _Compiled:
    formats = [f for code in codes for f in _COUNTRIES[code].formats]
    pattern = re.compile(f"{_LEFT}(?:{_dispatch(formats)}){_RIGHT}")
    checks = tuple((re.compile(f.regex), *_widths(f.regex), f.check) for f in formats)
    return _Compiled(pattern, checks, min(_COUNTRIES[c].min_digits for c in codes))


def _alternation(formats: Sequence[_Format], leads: tuple[str, ...]) -> str:
    # One alternative per distinct shape (PESEL, isikukood, T.C. Kimlik ... all
    # share [0-9]{11}); a candidate is then tried against every country's check.
    # Longer shapes first: at a given start the regex keeps the first alternative
    # that ends at a boundary, and the refiner can still cut a shorter one out.
    shapes = sorted(
        {f.regex for f in formats if f.lead in leads}, key=lambda r: (-_widths(r)[1], r)
    )
    return "|".join(f"(?:{r})" for r in shapes)


def _dispatch(formats: Sequence[_Format]) -> str:
    """The shapes of ``formats`` as one alternation, grouped by what they start with.

    A position is tried only against the shapes that can start there: sre tries a
    branch's alternatives one by one, so grouping behind one cheap lookahead
    each makes prose and digit soup several times faster to scan.
    """
    numeric = []
    # Shapes that may start with one digit (the NIR's "1 85 ...") also start with
    # two ("185..."): they join the two-digit group, sorted in by length, so a
    # compact NIR is tried before the 13-digit shapes that would cut it short.
    if two := _alternation(formats, ("00", "0")):
        numeric.append(f"(?=[0-9]{{2}})(?:{two})")
    if one := _alternation(formats, ("0",)):
        numeric.append(one)
    branches = []
    if numeric:
        branches.append(f"(?=[0-9]){_NOT_AFTER_DIALLING_CODE}(?:{'|'.join(numeric)})")
    if letters := _alternation(formats, ("A",)):
        branches.append(f"{_LETTER_GATE}(?:{letters})")
    return "|".join(branches)


def _valid(compiled: _Compiled, s: str) -> bool:
    """Whether ``s`` is, as a whole, a valid identifier of one of the countries."""
    n = len(s)
    for full, lo, hi, check in compiled.formats:
        if lo <= n <= hi and full.fullmatch(s) is not None and check(s):
            # "111.111.111-11" passes the CPF checksum: one digit repeated is a
            # placeholder someone typed, not a person's number.
            digits = "".join(c for c in s if c.isdigit())
            return len(digits) < 6 or digits.count(digits[0]) != len(digits)
    return False


def _refiner(compiled: _Compiled) -> Callable[[str], list[tuple[int, int]]]:
    def refine(run: str) -> list[tuple[int, int]]:
        """The valid identifier the matched candidate ``run`` starts with, if any."""
        if _valid(compiled, run):
            return [(0, len(run))]
        # A longer shape can hide a shorter one at the same start: "750330 5044 08 9"
        # is read as a South African number, but "750330 5044" may be a Swedish one.
        # The run is at most a few dozen characters with a handful of spaces.
        cut = run.rfind(" ")
        while cut > 0:
            if _valid(compiled, run[:cut]):
                return [(0, cut)]
            cut = run.rfind(" ", 0, cut)
        return []

    return refine


def national_id_detector(countries: Sequence[str], name: str = "national_id") -> Detector:
    """A detector (label ``NATIONAL_ID``) for the identifiers of ``countries``.

    ``countries`` are ISO 3166 alpha-2 codes, in any case, from
    :data:`SUPPORTED_COUNTRIES`. Raises ``ValueError`` for an unknown code or an
    empty list. A candidate counts only when python-stdnum validates it
    (check digits, and the embedded date or region where there is one).
    """
    if isinstance(countries, str):
        # "fr" would otherwise be read as the two codes "f" and "r".
        countries = (countries,)
    codes: list[str] = []
    for raw in countries:
        code = raw.strip().lower()
        if code not in _COUNTRIES:
            raise ValueError(
                f"unknown national_id country {raw!r}; supported: " + ", ".join(SUPPORTED_COUNTRIES)
            )
        if code not in codes:
            codes.append(code)
    if not codes:
        raise ValueError(
            "national_id needs at least one country; supported: " + ", ".join(SUPPORTED_COUNTRIES)
        )
    compiled = _compile(tuple(sorted(codes)))
    return Detector(
        name,
        "NATIONAL_ID",
        compiled.pattern,
        refine=_refiner(compiled),
        needs_digit=True,
        min_digits=compiled.min_digits,
    )
