"""Decision time with the current classifier against a baseline checkout, side by side.

Runs ``python -m benchmarks.policy_bench`` (the 20-target, 30-rule policy on a
2 KB message, seen and never seen before) in this tree and in a baseline
tree — for example the commit before a change, checked out with
``git worktree add /tmp/base <rev>`` — alternately, in fresh processes, for
several rounds, and prints each figure's median per tree and the ratio.

``python -m benchmarks.classification --baseline /tmp/base [--rounds 5] [--n 3000]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "measure"]

HERE = Path(__file__).resolve().parent.parent
FIGURES = (("decide", "seen message"), ("decide_unseen", "never-seen message"))


def _run(tree: Path, n: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.policy_bench", "--n", str(n)],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def measure(baseline: Path, rounds: int, n: int) -> dict[str, dict[str, float]]:
    """Median p50 (µs) per figure for ``baseline`` and this tree, rounds interleaved."""
    samples: dict[str, dict[str, list[float]]] = {"baseline": {}, "current": {}}
    for _ in range(rounds):
        for name, tree in (("baseline", baseline), ("current", HERE)):
            r = _run(tree, n)
            for key, _ in FIGURES:
                samples[name].setdefault(key, []).append(r[key]["p50_us"])
    return {
        name: {key: statistics.median(v) for key, v in figs.items()}
        for name, figs in samples.items()
    }


def main(argv: list[str] | None = None) -> None:
    """Measure and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the baseline")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args(argv)
    med = measure(args.baseline, args.rounds, args.n)
    print(f"Policy.decide p50, median of {args.rounds} interleaved rounds of {args.n} calls:\n")
    print("| decide on a 2 KB message | baseline | current | ratio |")
    print("|---|---:|---:|---:|")
    for key, label in FIGURES:
        b, c = med["baseline"][key], med["current"][key]
        print(f"| {label} | {b:.1f} us | {c:.1f} us | {c / b:.2f}x |")


if __name__ == "__main__":
    main()
