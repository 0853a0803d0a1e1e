"""How often the card-number rule accepts digit strings that are not cards.

Two populations per length (12 to 19 digits), drawn from one seeded generator:

* uniform: every digit random, as in ids, phone numbers and amounts;
* Luhn-valid: random digits with a correct check digit appended, the worst case
  of order and account numbers that carry one (the Luhn test then filters
  nothing, and only the network prefix and length rules remain).

Each string is judged by the network-table rule (``router.policy.cards``) and
by the rule it replaced (kept here as the baseline: 13-19 digits, a
regex of issuer prefixes, any length for any prefix), and the accepted
fraction per length is printed as a Markdown table.

``python -m benchmarks.card_false_positives [--n 100000] [--seed 7812]``
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Callable

from router.policy.cards import CARD_MAX_DIGITS, CARD_MIN_DIGITS, card_digits_valid

__all__ = ["luhn_complete", "main", "rates"]

Rule = Callable[[str], bool]

# The digit sum of each digit doubled, for the positions Luhn doubles.
_DOUBLE_SUM = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_complete(body: str) -> str:
    """``body`` with the Luhn check digit appended."""
    total = 0
    # With the check digit appended, the body's last digit and every other one
    # to its left are doubled.
    for i, ch in enumerate(reversed(body)):
        total += _DOUBLE_SUM[int(ch)] if i % 2 == 0 else int(ch)
    return body + str(-total % 10)


def _uniform(rng: random.Random, length: int, n: int) -> list[str]:
    return [f"{rng.randrange(10**length):0{length}d}" for _ in range(n)]


def _luhn_valid(rng: random.Random, length: int, n: int) -> list[str]:
    body = length - 1
    return [luhn_complete(f"{rng.randrange(10**body):0{body}d}") for _ in range(n)]


def rates(rules: dict[str, Rule], n: int, seed: int) -> dict[tuple[int, str, str], float]:
    """Accepted fraction, keyed by (length, population, rule name)."""
    rng = random.Random(seed)
    out: dict[tuple[int, str, str], float] = {}
    for length in range(CARD_MIN_DIGITS, CARD_MAX_DIGITS + 1):
        for population, draw in (("uniform", _uniform), ("Luhn-valid", _luhn_valid)):
            sample = draw(rng, length, n)
            for name, rule in rules.items():
                out[length, population, name] = sum(map(rule, sample)) / n
    return out


_OLD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|35|6[0245]|62|5[06-9]")


def _old_rule(digits: str) -> bool:
    """The rule before the network table: 13-19 digits, a known prefix, Luhn."""
    if not 13 <= len(digits) <= 19 or digits.count(digits[0]) == len(digits):
        return False
    if _OLD_PREFIX.match(digits) is None:
        return False
    total = sum(int(d) for d in digits[-1::-2])
    total += sum(sum(divmod(2 * int(d), 10)) for d in digits[-2::-2])
    return total % 10 == 0


def main(argv: list[str] | None = None) -> None:
    """Print the false-positive table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="strings per length and population")
    parser.add_argument("--seed", type=int, default=7812)
    args = parser.parse_args(argv)

    rules: dict[str, Rule] = {"old": _old_rule, "new": card_digits_valid}

    table = rates(rules, args.n, args.seed)
    columns = [(pop, name) for pop in ("uniform", "Luhn-valid") for name in rules]
    print(f"Accepted as a card, {args.n:,} strings per cell (seed {args.seed}):\n")
    print("| digits | " + " | ".join(f"{pop}: {name}" for pop, name in columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    for length in range(CARD_MIN_DIGITS, CARD_MAX_DIGITS + 1):
        cells = (f"{100 * table[length, pop, name]:.2f}%" for pop, name in columns)
        print(f"| {length} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
