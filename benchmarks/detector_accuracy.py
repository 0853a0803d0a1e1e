"""Recall and false positives of the ``national_id`` detector, per country, as Markdown.

The corpus is generated (``tests/national_id_corpus.py``): valid identifiers
in every format a country's people write, inside sentences, and text that
must not count (orders, invoices, phones, dates, amounts, random digits,
alphanumeric codes). Recall is the share of sentences in which the
detector reports exactly the identifier's span; a false-positive rate is
the share of negative texts in which it reports anything. Each country is
measured with a detector for that country alone; the last row is one
detector for every supported country.

``python -m benchmarks.detector_accuracy [--n 300] [--negatives 2000] [--seed 1]``
prints the table; the same seed prints the same numbers.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass

from router.policy.national_ids import SUPPORTED_COUNTRIES, national_id_detector
from tests.national_id_corpus import KINDS, NEGATIVES, negatives, positives

__all__ = ["Row", "main", "measure", "table"]

# Negative kinds reported in their own column; the rest are summed as "structured".
_RANDOM = "random digits"
_CODES = "alphanumeric codes"


@dataclass(frozen=True)
class Row:
    """One country's (or the all-countries detector's) numbers."""

    country: str
    name: str
    formats: int
    recall: float
    fp: dict[str, float]
    """False-positive rate per negative kind."""


def measure(countries: Sequence[str], n: int, n_negatives: int, seed: int) -> list[Row]:
    """Recall over ``n`` sentences per format, FP rates over ``n_negatives`` texts per kind.

    The corpus depends on ``seed`` only: every country sees the same negatives.
    """
    rng = random.Random(seed)
    negs = {kind: negatives(kind, n_negatives, rng) for kind in NEGATIVES}
    rows = []
    samples = {}
    for kind in KINDS:
        if kind.country in countries:
            samples[kind] = positives(kind, n, random.Random(f"{seed}/{kind.country}/{kind.fmt}"))
    groups = [([c], c, SUPPORTED_COUNTRIES[c]) for c in countries]
    groups.append((list(countries), "all", f"all {len(countries)} countries in one detector"))
    for codes, label, name in groups:
        det = national_id_detector(codes)
        mine = [k for k in samples if k.country in codes]
        found = total = 0
        for kind in mine:
            for text, span in samples[kind]:
                total += 1
                found += span in det.finditer(text)
        fp = {
            kind: sum(1 for t in texts if any(True for _ in det.finditer(t))) / len(texts)
            for kind, texts in negs.items()
        }
        rows.append(Row(label, name, len(mine), found / total, fp))
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table: recall, and FP per negative kind."""
    kinds = list(rows[0].fp)
    head = ["country", "identifier", "formats", "recall", *kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.country, r.name, str(r.formats), _pct(r.recall)]
        cells += [_pct(r.fp[k]) for k in kinds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the table for the arguments (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=300, help="sentences per (country, format)")
    ap.add_argument("--negatives", type=int, default=2000, help="texts per negative kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--countries", nargs="*", default=sorted(SUPPORTED_COUNTRIES))
    args = ap.parse_args(argv)
    rows = measure(args.countries, args.n, args.negatives, args.seed)
    print(
        f"national_id detector: seed {args.seed}, {args.n} sentences per format, "
        f"{args.negatives} texts per negative kind\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
