"""Payment card numbers: is a run of digits a number some card network issues?

A card number (PAN, ISO/IEC 7812-1) opens with an issuer identification number
(IIN) that names the network, has a length that network issues (12 to 19
digits: 12-digit Maestro is the shortest, 19 the standard's ceiling) and ends
in a Luhn check digit. :func:`card_digits_valid` asks all three, so an order
number or a timestamp that happens to carry a check digit is still not a card
unless it also opens with an issued prefix and has that network's length.

The networks are data (:data:`NETWORKS`); the lookup is precomputed from them
at import: a dict keyed by the first two digits answers most numbers, one keyed
by the first four the rest, except for the few four-digit blocks a network
range splits (Verve's 506099-506198, Maestro UK's 676770), which are bisected
on digits five to eight.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate
from typing import Final, NamedTuple

__all__ = [
    "CARD_MAX_DIGITS",
    "CARD_MIN_DIGITS",
    "NETWORKS",
    "Network",
    "card_digits_valid",
    "card_lengths",
    "card_network",
    "card_spans",
]

CARD_MIN_DIGITS: Final = 12
"""Fewest digits any network issues (Maestro)."""
CARD_MAX_DIGITS: Final = 19
"""Most digits a card number may have (ISO/IEC 7812-1)."""


class Network(NamedTuple):
    """A card network: the IIN prefixes it issues under and the lengths it issues."""

    name: str
    prefixes: tuple[str, ...]
    """Leading digits, one prefix (``"4"``) or an inclusive range of prefixes of one
    width (``"2221-2720"``: every number opening with 2221, 2222, ... 2720)."""
    lengths: frozenset[int]
    """Whole-number lengths in digits, check digit included."""


def _lengths(low: int, high: int | None = None) -> frozenset[int]:
    return frozenset(range(low, (low if high is None else high) + 1))


# Sources: the IIN table of the "Payment card number" encyclopedia article (its 2024
# revisions), cross-checked against the ranges kept by widely used card-type libraries
# (which cite Mastercard's rules and Discover's IPP/VAR compliance guide for the ranges
# Discover acquires) and the test card numbers payment providers publish. Where sources
# disagree on lengths, the longer list backed by a network's own announcement or by
# published test numbers is taken (Visa 13-19, JCB and Discover 16-19, Diners 14-19):
# missing a real card costs more here than flagging one more look-alike.
#
# Where ranges overlap, every network's lengths count for validity; card_network names
# the narrowest range that admits the length (then the earlier row), so 6011... is
# Discover at 16 digits but Maestro at 12.
#
# Left out on purpose: UATP (airline accounts, prefix "1", 15 digits), since a one-digit
# prefix would claim a tenth of all 15-digit ids; and networks whose ranges lie wholly
# inside a row below (Elo, Visa Electron, InstaPayment, InterPayment, UkrCard, the
# retired Laser, Solo and Bankcard): their numbers are accepted under that row's name.
NETWORKS: Final[tuple[Network, ...]] = (
    # Visa issues 13, 16 and 19 digits and its V PAY range may use any of 13-19.
    Network("Visa", ("4",), _lengths(13, 19)),
    Network("Mastercard", ("51-55", "2221-2720"), _lengths(16)),
    Network("American Express", ("34", "37"), _lengths(15)),
    # Discover's 2017 expansion to 19 digits covers its own, Diners' and JCB's ranges.
    # (622126-622925, also listed under Discover, is UnionPay's range accepted on
    # Discover's network; UnionPay's row below covers it.)
    Network("Discover", ("6011", "644-649", "65"), _lengths(16, 19)),
    Network("Diners Club", ("300-305", "3095", "36", "38-39"), _lengths(14, 19)),
    # JCB's own range, then the 30/31/33 ranges it issues under on Discover's network.
    Network(
        "JCB",
        ("3528-3589", "3088-3094", "3096-3102", "3112-3120", "3158-3159", "3337-3349"),
        _lengths(16, 19),
    ),
    # JCB's pre-2000 15-digit cards.
    Network("JCB", ("1800", "2131"), _lengths(15)),
    Network("UnionPay", ("62", "8100-8171"), _lengths(16, 19)),
    # Maestro: a debit brand across the whole 5 and 6 MIIs outside Mastercard's 51-55.
    Network("Maestro", ("50", "56-69"), _lengths(12, 19)),
    # UK domestic Maestro (the former Switch and Solo ranges).
    Network("Maestro UK", ("6759", "676770", "676774", "564182", "633110"), _lengths(12, 19)),
    Network("Mir", ("2200-2204",), _lengths(16, 19)),
    # RuPay also issues under 353 and 356, co-branded inside JCB's range; those stay JCB.
    Network("RuPay", ("60", "65", "81", "82", "508"), _lengths(16)),
    # Troy's international cards use 65 (Discover's range, so named Discover).
    Network("Troy", ("9792",), _lengths(16)),
    Network("Verve", ("506099-506198", "507865-507964", "650002-650027"), frozenset((16, 18, 19))),
    Network("Dankort", ("5019",), _lengths(16)),
    Network("Hipercard", ("384100", "384140", "384160", "606282"), _lengths(16)),
    Network("BORICA", ("2205",), _lengths(16, 19)),
    Network("China T-Union", ("31",), _lengths(19)),
    Network("GPN", ("1946",), frozenset((16, 18, 19))),
    Network("Napas", ("9704",), frozenset((16, 19))),
    Network("UzCard", ("8600",), _lengths(16)),
    Network("Humo", ("9860",), _lengths(16)),
)

# Every prefix is widened to an 8-digit key (the longest IIN ISO/IEC 7812-1 assigns).
_KEY_DIGITS = 8

# For one stretch of keys: the network name per number length (index 0-19), None
# where no network issues that length there.
_Names = tuple[str | None, ...]


class _Range(NamedTuple):
    low: int
    high: int
    order: int
    network: Network


def _ranges() -> list[_Range]:
    out: list[_Range] = []
    for order, network in enumerate(NETWORKS):
        for prefix in network.prefixes:
            low, _, high = prefix.partition("-")
            high = high or low
            if not (low.isdigit() and high.isdigit() and len(low) == len(high) <= _KEY_DIGITS):
                raise ValueError(f"bad IIN prefix {prefix!r} for {network.name}")
            out.append(
                _Range(
                    int(low.ljust(_KEY_DIGITS, "0")),
                    int(high.ljust(_KEY_DIGITS, "9")),
                    order,
                    network,
                )
            )
    return out


_Fine = tuple[list[int], list[_Names]]


def _build() -> tuple[dict[str, _Names], dict[str, _Names], dict[str, _Fine]]:
    """The lookup tables: by the first two digits, by the first four, and bisected.

    Blocks of the key space that one set of networks covers whole are keyed by
    their first two digits (unassigned ones too, so most numbers cost one dict
    lookup), else by their first four; the few four-digit blocks a range edge
    cuts keep their pieces' starts (digits five to eight) for bisection.
    """
    ranges = _ranges()
    interned: dict[tuple[_Range, ...], _Names] = {}

    def names(key: int) -> _Names:
        covering = tuple(r for r in ranges if r.low <= key <= r.high)
        found = interned.get(covering)
        if found is None:
            # Narrowest range first, so a more specific row names the number.
            ranked = sorted(covering, key=lambda r: (r.high - r.low, r.order))
            found = tuple(
                next((r.network.name for r in ranked if n in r.network.lengths), None)
                for n in range(CARD_MAX_DIGITS + 1)
            )
            interned[covering] = found
        return found

    # Cut the key space at every range edge where the names change: a few dozen
    # stretches to name, rather than every block.
    cuts = sorted({0} | {r.low for r in ranges} | {r.high + 1 for r in ranges})
    starts: list[int] = []
    table: list[_Names] = []
    for cut in cuts:
        found = names(cut)
        if not table or table[-1] != found:
            starts.append(cut)
            table.append(found)
    ends = [*starts[1:], 10**_KEY_DIGITS]

    two, four = 10 ** (_KEY_DIGITS - 2), 10 ** (_KEY_DIGITS - 4)
    by2: dict[str, _Names] = {}
    by4: dict[str, _Names] = {}
    for low, high, found in zip(starts, ends, table, strict=True):
        # Whole two-digit blocks inside the stretch, then whole four-digit blocks in
        # what is left at either end (unassigned ones only at the two-digit level).
        first, last = -(-low // two), high // two
        if first < last:
            by2.update(dict.fromkeys((f"{b:02d}" for b in range(first, last)), found))
            rest = [(low, first * two), (last * two, high)]
        else:
            rest = [(low, high)]
        if any(found):
            for a, b in rest:
                blocks = range(-(-a // four), b // four)
                by4.update(dict.fromkeys((f"{k:04d}" for k in blocks), found))

    fine: dict[str, _Fine] = {}
    for block in sorted({start // four for start in starts if start % four}):
        base = block * four
        inside = [i for i, start in enumerate(starts) if base < start < base + four]
        # The stretch the block opens in, then each one starting inside it.
        fine[f"{block:04d}"] = (
            [0] + [starts[i] - base for i in inside],
            [table[inside[0] - 1]] + [table[i] for i in inside],
        )
    return by2, by4, fine


_BY2, _BY4, _FINE = _build()

# Luhn on bytes: summing a bytes object runs in C, so no per-digit int() calls. Digits in
# odd places from the right add their byte value less ord("0"); the others go through
# this table to the digit sum of their double.
_DOUBLED: Final = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def _names_of(digits: str) -> _Names | None:
    names = _BY2.get(digits[:2])
    if names is None:
        head = digits[:4]
        names = _BY4.get(head)
        if names is None:
            fine = _FINE.get(head)
            if fine is None:
                return None
            starts, table = fine
            names = table[bisect_right(starts, int(digits[4:_KEY_DIGITS])) - 1]
    return names


def card_digits_valid(digits: str) -> bool:
    """Whether ``digits`` (ASCII digits only, no separators) is a plausible card number.

    True when it opens with a prefix a card network issues under, has a length
    that network issues (:data:`CARD_MIN_DIGITS` to :data:`CARD_MAX_DIGITS`),
    passes the Luhn check and is not one digit repeated. Anything else,
    including non-digit characters, is False.
    """
    n = len(digits)
    if n < CARD_MIN_DIGITS or n > CARD_MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
        return False
    names = _names_of(digits)
    if names is None or names[n] is None:
        return False
    raw = digits.encode()
    total = sum(raw[-1::-2]) - 48 * ((n + 1) >> 1) + sum(raw[-2::-2].translate(_DOUBLED))
    # Luhn before the repeated-digit test: Luhn rejects nine in ten, the other almost none.
    return total % 10 == 0 and digits.count(digits[0]) != n


def card_network(digits: str) -> str | None:
    """The network that issues ``digits``, or None when it is not a valid card number.

    Where ranges overlap, the network with the narrowest range that issues this
    length is named ("6011..." is Discover at 16 digits, Maestro at 12).
    """
    if not card_digits_valid(digits):
        return None
    names = _names_of(digits)
    return None if names is None else names[len(digits)]


_LENGTHS: dict[int, frozenset[int]] = {}
_VALUES: Final = bytes.maketrans(b"0123456789", bytes(range(10)))


def card_lengths(digits: str) -> frozenset[int]:
    """The lengths a network issues numbers of that open with ``digits`` (its first
    eight or more ASCII digits; fewer may not decide the network): empty when none."""
    names = _names_of(digits) if len(digits) >= 2 else None
    if names is None:
        return frozenset()
    found = _LENGTHS.get(id(names))
    if found is None:
        # Name tuples are interned by _build, so their ids are stable keys.
        found = _LENGTHS[id(names)] = frozenset(n for n, name in enumerate(names) if name)
    return found


def card_spans(groups: list[str]) -> list[tuple[int, int]]:
    """Card numbers made of consecutive digit groups: ``(first, last)`` group indexes.

    A card starts and ends at group boundaries, and the longest valid number
    from each start wins. Luhn sums come from running totals over the groups'
    digits, so each candidate costs the same however long the run: a megabyte
    of "4 4 4 …" is scanned in linear time.
    """
    digits = "".join(groups)
    raw = digits.encode("ascii")
    vals, dbl = raw.translate(_VALUES), raw.translate(_DOUBLED)
    # Running sums of digit values (and of their Luhn doubles) at even and odd places.
    ev, od = [0, *accumulate(vals[0::2])], [0, *accumulate(vals[1::2])]
    evd, odd = [0, *accumulate(dbl[0::2])], [0, *accumulate(dbl[1::2])]
    ends = list(accumulate(map(len, groups)))
    out: list[tuple[int, int]] = []
    i, n = 0, len(groups)
    while i < n:
        s = ends[i] - len(groups[i])
        allowed = card_lengths(digits[s : s + _KEY_DIGITS])
        best = None
        if allowed:
            # Only ends 12 to 19 digits away can close a card: skip straight to them.
            for j in range(bisect_left(ends, s + CARD_MIN_DIGITS, i), n):
                e = ends[j]
                size = e - s
                if size > CARD_MAX_DIGITS:
                    break
                if size not in allowed:
                    continue
                # The check digit (place e-1) is added as is; every second one left of it doubled.
                if (e - 1) % 2 == 0:
                    total = ev[(e + 1) // 2] - ev[(s + 1) // 2] + odd[e // 2] - odd[s // 2]
                else:
                    total = od[e // 2] - od[s // 2] + evd[(e + 1) // 2] - evd[(s + 1) // 2]
                if total % 10 == 0 and digits.count(digits[s], s, e) != size:
                    best = j
        if best is None:
            i += 1
        else:
            out.append((i, best))
            i = best + 1
    return out
