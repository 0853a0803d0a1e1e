"""Card numbers: every network's issued lengths pass, look-alikes do not.

Numbers are generated per network (a prefix from each range, a random body, the
Luhn check digit computed here) and checked against a plain reference reading of
``NETWORKS``; the published test numbers payment providers hand out are checked
against the network each provider names.
"""

from __future__ import annotations

import random

import pytest

from router.policy.cards import (
    CARD_MAX_DIGITS,
    CARD_MIN_DIGITS,
    NETWORKS,
    Network,
    card_digits_valid,
    card_network,
)


def check_digit(body: str) -> str:
    """The Luhn check digit that makes ``body + digit`` valid."""
    total = 0
    # Once the check digit is appended, the body's last digit is second from the
    # right: it and every other one to its left are doubled.
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def luhn_ok(number: str) -> bool:
    return check_digit(number[:-1]) == number[-1]


def make(prefix: str, length: int, rng: random.Random) -> str:
    """A Luhn-valid number of ``length`` digits opening with ``prefix``."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + check_digit(body)


def prefix_in(spec: str, rng: random.Random) -> str:
    """A random prefix inside ``spec`` ("4", "2221-2720"), zero-padded to its width."""
    low, _, high = spec.partition("-")
    high = high or low
    return str(rng.randint(int(low), int(high))).zfill(len(low))


def issuer(digits: str) -> str | None:
    """The network whose table row covers ``digits``' prefix and length, read off
    ``NETWORKS`` the slow way (no Luhn, no other checks).

    The narrowest matching range names it (then the earlier row): the tie-break
    the module documents.
    """
    best: tuple[int, int, str] | None = None
    for order, network in enumerate(NETWORKS):
        if len(digits) not in network.lengths:
            continue
        for spec in network.prefixes:
            low, _, high = spec.partition("-")
            high = high or low
            # Same-width digit strings compare like the numbers they spell.
            if low <= digits[: len(low)] <= high:
                width = (int(high) - int(low) + 1) * 10 ** (8 - len(low))
                if best is None or (width, order) < best[:2]:
                    best = (width, order, network.name)
    return None if best is None else best[2]


def reference(digits: str) -> str | None:
    """What ``card_network`` should say: the issuer, for ASCII digits of 12-19 that pass
    Luhn and are not one digit repeated."""
    if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
        return None
    if len(set(digits)) == 1 or not luhn_ok(digits):
        return None
    return issuer(digits)


def test_lengths_are_the_iso_span() -> None:
    assert (CARD_MIN_DIGITS, CARD_MAX_DIGITS) == (12, 19)
    allowed = set().union(*(n.lengths for n in NETWORKS))
    assert min(allowed) == CARD_MIN_DIGITS
    assert max(allowed) == CARD_MAX_DIGITS
    # Only Maestro issues 12 digits.
    assert {n.name for n in NETWORKS if 12 in n.lengths} == {"Maestro", "Maestro UK"}


NETWORK_LENGTHS = [
    ("Visa", range(13, 20)),
    ("Mastercard", [16]),
    ("American Express", [15]),
    ("Discover", range(16, 20)),
    ("Diners Club", range(14, 20)),
    ("JCB", range(15, 20)),
    ("UnionPay", range(16, 20)),
    ("Maestro", range(12, 20)),
    ("Maestro UK", range(12, 20)),
    ("Mir", range(16, 20)),
    ("RuPay", [16]),
    ("Troy", [16]),
    ("Verve", [16, 18, 19]),
]


@pytest.mark.parametrize(("name", "lengths"), NETWORK_LENGTHS)
def test_each_network_issues_its_documented_lengths(name: str, lengths: range | list[int]) -> None:
    issued = set().union(*(n.lengths for n in NETWORKS if n.name == name))
    assert issued == set(lengths)


def _rows() -> list[tuple[Network, str, int]]:
    return [(n, spec, length) for n in NETWORKS for spec in n.prefixes for length in n.lengths]


@pytest.mark.parametrize(
    ("network", "spec", "length"),
    _rows(),
    ids=lambda v: v.name if isinstance(v, Network) else str(v),
)
def test_random_numbers_of_every_issued_length_are_valid(
    network: Network, spec: str, length: int
) -> None:
    rng = random.Random(f"{network.name}/{spec}/{length}")
    low, _, high = spec.partition("-")
    # Both ends of the range, then random prefixes inside it.
    prefixes = [low, high or low] + [prefix_in(spec, rng) for _ in range(8)]
    for prefix in prefixes:
        for _ in range(3):
            number = make(prefix, length, rng)
            if len(set(number)) == 1:
                continue
            assert card_digits_valid(number), number
            assert card_network(number) == reference(number), number
            # The check digit is the only one that works.
            for wrong in set("0123456789") - {number[-1]}:
                assert not card_digits_valid(number[:-1] + wrong)


def test_lookup_agrees_with_the_table_everywhere() -> None:
    """Random numbers, half Luhn-valid, and numbers just inside and outside every
    range edge: the precomputed lookup answers as a scan of the table does."""
    rng = random.Random(7812)
    numbers = []
    for length in range(10, 22):
        for _ in range(1500):
            numbers.append("".join(rng.choice("0123456789") for _ in range(length)))
            numbers.append(make("", length, rng))
    for network in NETWORKS:
        for spec in network.prefixes:
            low, _, high = spec.partition("-")
            high = high or low
            width = len(low)
            edges = {int(low) - 1, int(low), int(high), int(high) + 1}
            for edge in edges:
                if 0 <= edge < 10**width:
                    for length in range(12, 20):
                        numbers.append(make(str(edge).zfill(width), length, rng))
    for number in numbers:
        expected = reference(number)
        assert card_network(number) == expected, number
        assert card_digits_valid(number) is (expected is not None), number


# Test numbers published by payment providers and card-type libraries, each with the
# network the publisher names (sources in general terms: their sandbox/test-card docs).
PUBLISHED = [
    # Visa: the universal test number, Stripe's, PayPal's 13-digit, Authorize.net's
    # 13-digit, a 19-digit one from a card-type library's tests, Mastercard Gateway's.
    ("4111111111111111", "Visa"),
    ("4242424242424242", "Visa"),
    ("4000056655665556", "Visa"),
    ("4012888888881881", "Visa"),
    ("4222222222222", "Visa"),
    ("4007000000027", "Visa"),
    ("4111111111111111110", "Visa"),
    ("4508750015741019", "Visa"),
    # Mastercard, including the 2-series (Stripe, Braintree, Mastercard Gateway, Cybersource).
    ("5555555555554444", "Mastercard"),
    ("5105105105105100", "Mastercard"),
    ("5200828282828210", "Mastercard"),
    ("2223003122003222", "Mastercard"),
    ("2223000048400011", "Mastercard"),
    ("5123450000000008", "Mastercard"),
    ("2222420000001113", "Mastercard"),
    # American Express (Stripe, PayPal, iyzico).
    ("378282246310005", "American Express"),
    ("371449635398431", "American Express"),
    ("378734493671000", "American Express"),
    ("374427000000003", "American Express"),
    # Discover, a 19-digit one among them; Stripe's BC Card/DinaCard number is in 65.
    ("6011111111111117", "Discover"),
    ("6011000990139424", "Discover"),
    ("6011981111111113", "Discover"),
    ("6011000991300009", "Discover"),
    ("6011364502062370230", "Discover"),
    ("6555900000604105", "Discover"),
    # Diners Club at 14 and 16 digits (Stripe, PayPal, Braintree).
    ("36227206271667", "Diners Club"),
    ("3056930009020004", "Diners Club"),
    ("30569309025904", "Diners Club"),
    ("38520000023237", "Diners Club"),
    ("36259600000004", "Diners Club"),
    # JCB at 16-19 digits, and in the 3088 range it issues on Discover's network.
    ("3530111333300000", "JCB"),
    ("3566002020360505", "JCB"),
    ("3566111111111113", "JCB"),
    ("3528000000000007", "JCB"),
    ("35308796121637357", "JCB"),
    ("353445444300732639", "JCB"),
    ("3537286818376838569", "JCB"),
    ("3088000000000017", "JCB"),
    # UnionPay: Stripe's (one 19 digits), Braintree's, a card-type library's 19-digit
    # and 81-series numbers.
    ("6200000000000005", "UnionPay"),
    ("6200000000000047", "UnionPay"),
    ("6205500000000000004", "UnionPay"),
    ("6212345678900000003", "UnionPay"),
    ("6243030000000001", "UnionPay"),
    ("6221261111117766", "UnionPay"),
    ("6223164991230014", "UnionPay"),
    ("8100513433325374", "UnionPay"),
    ("8168524506870054", "UnionPay"),
    # Maestro: Braintree's, Mastercard Gateway's 19-digit, Cybersource's 14- and 18-digit.
    ("6304000000000000", "Maestro"),
    ("5000000000000000005", "Maestro"),
    ("50339619890917", "Maestro"),
    ("586824160825533338", "Maestro"),
    ("6799990100000000019", "Maestro"),
    # UK domestic Maestro (Cybersource, PayPal's Switch/Solo number).
    ("6759411100000008", "Maestro UK"),
    ("6759560045005727054", "Maestro UK"),
    ("5641821111166669", "Maestro UK"),
    ("6331101999990016", "Maestro UK"),
    # Mir (a Russian bank's payment sandbox).
    ("2200111753579001", "Mir"),
    ("2200117996077364", "Mir"),
    ("2200119066335755", "Mir"),
    # RuPay (PayU India).
    ("6082015309577308", "RuPay"),
    # Troy's domestic range (iyzico, Odero); its international 65 cards are Discover's.
    ("9792072000017956", "Troy"),
    ("9792023757123604", "Troy"),
    ("9792020000000001", "Troy"),
    ("9792030000000000", "Troy"),
    ("9792060000000007", "Troy"),
    ("6500528865390837", "Discover"),
    # Verve, 19 digits (Flutterwave).
    ("5061460410120223210", "Verve"),
    # UzCard (Paycom's sandbox), Hipercard, Dankort.
    ("8600069195406311", "UzCard"),
    ("8600495473316478", "UzCard"),
    ("6062820524845321", "Hipercard"),
    ("5019717010103742", "Dankort"),
]


@pytest.mark.parametrize(("number", "network"), PUBLISHED)
def test_published_test_numbers(number: str, network: str) -> None:
    assert card_digits_valid(number)
    assert card_network(number) == network
    last = int(number[-1])
    for wrong in range(10):
        if wrong != last:
            assert not card_digits_valid(number[:-1] + str(wrong))


@pytest.mark.parametrize("prefix", ["6759", "6304", "5018", "50", "56", "6763", "69"])
def test_twelve_digit_maestro(prefix: str) -> None:
    # No provider publishes a 12-digit test number; build them: Maestro ranges, Luhn.
    rng = random.Random(prefix)
    for _ in range(20):
        number = make(prefix, 12, rng)
        assert card_network(number) in {"Maestro", "Maestro UK"}, number


@pytest.mark.parametrize(
    ("prefix", "lengths"),
    [
        # Each prefix here belongs to one network only, so any other length is wrong.
        ("34", [12, 13, 14, 16, 17, 18, 19]),  # American Express: 15
        ("37", [14, 16]),
        ("51", [12, 13, 14, 15, 17, 18, 19]),  # Mastercard: 16
        ("2221", [13, 15, 17, 19]),
        ("2720", [15, 17]),
        ("4", [12]),  # Visa: 13-19
        ("2200", [12, 13, 14, 15]),  # Mir: 16-19
        ("2204", [15]),
        ("9792", [12, 15, 17, 18, 19]),  # Troy: 16
        ("82", [12, 15, 17, 19]),  # RuPay: 16
        ("3528", [12, 13, 14, 15]),  # JCB: 16-19
        ("3589", [15]),
        ("1800", [12, 14, 16, 19]),  # JCB's legacy range: 15
        ("36", [12, 13]),  # Diners Club: 14-19
        ("3150", [16, 17, 18]),  # China T-Union: 19 (31 outside JCB's 3112-3120, 3158-3159)
        ("8600", [15, 17, 19]),  # UzCard: 16
    ],
)
def test_wrong_lengths(prefix: str, lengths: list[int]) -> None:
    rng = random.Random(prefix)
    for length in lengths:
        for _ in range(20):
            number = make(prefix, length, rng)
            assert not card_digits_valid(number), number
            assert card_network(number) is None


@pytest.mark.parametrize("length", [1, 8, 11, 20, 21, 25])
def test_lengths_outside_12_to_19(length: int) -> None:
    rng = random.Random(length)
    for prefix in ("4", "6759", "51", "62"):
        for _ in range(10):
            number = make(prefix, length, rng) if length > len(prefix) else prefix[:length]
            assert not card_digits_valid(number)


@pytest.mark.parametrize(
    "prefix",
    [
        "0",  # ISO/TC 68 assignments
        "7",  # petroleum
        "99",  # national assignments
        "20",  # enRoute's retired 2014...
        "2149",  # ... and 2149
        "2199",
        "2206",  # between BORICA (2205) and Mastercard's 2221
        "2220",
        "2721",  # past Mastercard's 2-series
        "28",
        "29",
        "32",
        "306",  # between Diners' 300-305 and JCB's 3088
        "3103",  # past JCB's 3096-3102
        "3300",  # before JCB's 3337
        "3500",  # 35 outside JCB's 3528-3589
        "3527",
        "3590",
        "80",
        "83",
        "87",
        "1801",
        "9703",
        "9793",
        "8599",
    ],
)
def test_unassigned_prefixes(prefix: str) -> None:
    rng = random.Random(prefix)
    for length in range(12, 20):
        if prefix == "3103" and length == 19:
            continue  # China T-Union issues 19 digits across all of 31
        for _ in range(10):
            number = make(prefix, length, rng)
            assert not card_digits_valid(number), number
            assert card_network(number) is None


def test_one_repeated_digit_is_never_a_card() -> None:
    turned_away = []
    for digit in "0123456789":
        for length in range(12, 20):
            number = digit * length
            assert not card_digits_valid(number)
            if luhn_ok(number) and issuer(number) is not None:
                turned_away.append(number)  # only the repeated-digit rule says no
    assert "6666666666666" in turned_away  # Maestro's 66 at 13 digits passes Luhn


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111 ",
        "+4111111111111111",
        "\uff14" + "\uff11" * 15,  # fullwidth digits
        "\u0664" + "\u0661" * 15,  # Arabic-Indic digits
        "41111111111111a1",
    ],
)
def test_only_ascii_digits(text: str) -> None:
    assert not card_digits_valid(text)
    assert card_network(text) is None


def test_overlaps_name_the_narrowest_range() -> None:
    rng = random.Random(6011)
    # 6011 is Discover at its lengths, Maestro (all of 60-69) at the others.
    assert card_network(make("6011", 16, rng)) == "Discover"
    assert card_network(make("6011", 12, rng)) == "Maestro"
    # 60 is RuPay at 16 digits, Maestro otherwise.
    assert card_network(make("6083", 16, rng)) == "RuPay"
    assert card_network(make("6083", 17, rng)) == "Maestro"
    # 6759 is Maestro UK inside Maestro's 67; 65 is Discover before RuPay (same width).
    assert card_network(make("6759", 16, rng)) == "Maestro UK"
    assert card_network(make("6512", 16, rng)) == "Discover"
    # Verve's 650002-650027 inside Discover's 65; 650028 is Discover again.
    assert card_network(make("650027", 18, rng)) == "Verve"
    assert card_network(make("650028", 18, rng)) == "Discover"
    assert card_network(make("650028", 17, rng)) == "Discover"
    assert card_network(make("650027", 17, rng)) == "Discover"
