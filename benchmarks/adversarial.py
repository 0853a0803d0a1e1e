"""Classification time on inputs built to make detectors slow, at two sizes.

Each input repeats a short unit (a JWT prefix, a PEM header line, digits, an
``@``, an IBAN-like group, …) up to 100 KB and up to 1 MB, and
``Policy.decide`` classifies a one-message request holding it, with every
built-in detector on (the defaults plus phone, IP address and national
identifiers). Linear time shows as a growth ratio near 10 (ten times the
input, ten times the time); a quadratic detector would show 100.

``python -m benchmarks.adversarial [--small 100000] [--large 1000000]`` prints
a Markdown table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["UNITS", "main", "measure"]

UNITS: dict[str, str] = {
    "jwt prefix": "eyJ-",
    "jwt prefix glued": "eyJ_",
    "jwt header dots": "eyJhbGciOiJIUzI1NiJ9.",
    "pem header lines": "-----BEGIN PRIVATE KEY-----\n",
    "pem begin words": "-----BEGIN A ",
    "openai key prefix": "sk-",
    "bearer words": "Bearer ",
    "authorization words": "Authorization: ",
    "url credentials": "://a:b",
    "digits": "4",
    "digits and spaces": "4 ",
    "digit groups": "4111-",
    "ssn-like": "536-22-",
    "spaces": " ",
    "tabs and newlines": "\t\n",
    "at signs": "@",
    "email local runs": "a@",
    "email dotted domain": "a.",
    "iban-like groups": "DE89 ",
    "iban-like lower": "de89 3704 ",
    "letters": "a",
    "zero-width between digits": "4\u200b",
    "full-width digits": "\uff14",
    "arabic-indic digits": "\u0664 ",
    "combining marks": "5\u0332",
    "json escapes": "\\u0034",
    "percent escapes": "%34",
    "html references": "&#52;",
    "ip-like": "1.2.",
    "phone-like": "+1 555 ",
}


def _config() -> dict[str, Any]:
    detect = [
        {"detector": name, "level": "confidential"}
        for name in (
            "email",
            "phone",
            "payment_card",
            "us_ssn",
            "iban",
            "ip_address",
            "credential",
            "national_id",
        )
    ]
    return {
        "providers": {"local": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"provider": "local", "model": "m"}},
        "routes": {"default": {"candidates": ["m"]}},
        "sensitivity": {"detect": detect},
    }


def _time_decide(policy: Any, text: str) -> float:
    from router.types import ChatRequest

    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": text}]})
    policy._seen.clear()  # never answer from the memo: every run scans
    t0 = time.perf_counter()
    policy.decide(request)
    return time.perf_counter() - t0


def measure(small: int, large: int, repeat: int = 3) -> list[dict[str, Any]]:
    """Seconds to decide at each size (best of ``repeat``) and their ratio, per input."""
    from router.config import load_dict
    from router.policy import Policy

    policy = Policy(load_dict(_config()))
    rows = []
    for name, unit in UNITS.items():
        times = {}
        for size in (small, large):
            text = (unit * (size // len(unit) + 1))[:size]
            times[size] = min(_time_decide(policy, text) for _ in range(repeat))
        rows.append(
            {
                "input": name,
                "unit": unit,
                "small_s": times[small],
                "large_s": times[large],
                "growth": times[large] / times[small] if times[small] else float("nan"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = measure(args.small, args.large, args.repeat)
    if args.json:
        json.dump(rows, sys.stdout)
        sys.stdout.write("\n")
        return
    ratio = args.large / args.small
    print(
        f"| input | unit | {args.small:,} chars | {args.large:,} chars "
        f"| growth (input x{ratio:g}) |"
    )
    print("|---|---|---:|---:|---:|")
    for r in rows:
        unit = json.dumps(r["unit"])[1:-1].replace("|", "\\|")
        print(
            f"| {r['input']} | `{unit}` | {r['small_s'] * 1000:.1f} ms | "
            f"{r['large_s'] * 1000:.1f} ms | {r['growth']:.1f}x |"
        )


if __name__ == "__main__":
    main()
