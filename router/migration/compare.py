"""Comparing a shadow's answer with the primary's, and keeping the evidence.

A pair record holds numbers only — latencies, tokens, cost, finish reasons,
output lengths, exact match and a similarity score — never prompt or
completion text, so it can be kept and shared like telemetry. Aggregates go
to the state store (``incr``, shared by every process); one JSONL line per
pair goes to the route's ``shadow.log`` file when one is configured.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..accounting import cost_usd
from ..state.base import StateStore
from ..state.program import Program, op, run
from ..targets import Target
from ..types import ChatResponse

__all__ = [
    "COUNTERS",
    "Side",
    "append_pair",
    "count",
    "count_steps",
    "pair_record",
    "read_pairs",
    "save_pair",
    "save_pair_steps",
    "similarity",
    "summarise_log",
    "summarise_store",
    "summary_cells",
]

_WORD = re.compile(r"\w+")
_MAX_CHARS = 4000
_file_lock = threading.Lock()

# Events counted per (route, shadow model) besides compared pairs.
COUNTERS = (
    "sampled",
    "dropped",
    "refused",
    "refused_budget",
    "skipped_same_target",
    "shadow_errors",
)
_SUMS = (
    "pairs",
    "exact",
    "similarity",
    "finish_same",
    "primary_latency_s",
    "shadow_latency_s",
    "primary_cost_usd",
    "shadow_cost_usd",
    "primary_tokens",
    "shadow_tokens",
    "primary_chars",
    "shadow_chars",
)


def similarity(a: str, b: str) -> float:
    """Token-set Jaccard similarity of two texts (first 4,000 characters), in [0, 1]."""
    ta = set(_WORD.findall(a[:_MAX_CHARS].lower()))
    tb = set(_WORD.findall(b[:_MAX_CHARS].lower()))
    if not ta and not tb:
        return 1.0
    return len(ta & tb) / len(ta | tb)


@dataclass(frozen=True, slots=True)
class Side:
    """One answer of a pair, reduced to numbers."""

    target: str
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    finish_reason: str | None
    chars: int

    @classmethod
    def of(cls, response: ChatResponse, target: Target, latency_s: float) -> Side:
        """The numbers of ``response`` (usage must be filled in)."""
        u = response.usage
        return cls(
            target=target.name,
            latency_s=latency_s,
            prompt_tokens=u.prompt_tokens if u else 0,
            completion_tokens=u.completion_tokens if u else 0,
            cost_usd=cost_usd(target, u),
            finish_reason=response.choices[0].finish_reason if response.choices else None,
            chars=len(response.content or ""),
        )


def pair_record(
    route: str, decision_id: str, now: float, primary: Side, shadow: Side, p_text: str, s_text: str
) -> dict[str, Any]:
    """The evidence for one compared pair (no text)."""
    return {
        "ts": now,
        "route": route,
        "decision_id": decision_id,
        "primary": asdict(primary),
        "shadow": asdict(shadow),
        "exact_match": p_text == s_text,
        "similarity": round(similarity(p_text, s_text), 4),
    }


def _key(route: str, model: str, name: str) -> str:
    return f"mig:sh:{route}:{model}:{name}"


def count(store: StateStore, route: str, model: str, event: str) -> None:
    """:func:`count_steps`, run on ``store``."""
    run(count_steps(route, model, event), store)


def count_steps(route: str, model: str, event: str) -> Program[None]:
    """Count one shadow event (``sampled``, ``dropped``, ``refused``, …)."""
    yield op("incr", _key(route, model, event))


def save_pair(store: StateStore, record: dict[str, Any], log: str | None) -> None:
    """Add one pair to the store's aggregates and, with ``log``, append it as a JSONL line."""
    run(save_pair_steps(record), store)
    if log:
        append_pair(record, log)


def append_pair(record: dict[str, Any], log: str) -> None:
    """Append one pair to the JSONL file ``log`` (blocking file I/O: async code runs it
    on a worker thread)."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with _file_lock, Path(log).open("a", encoding="utf-8") as f:
        f.write(line)


def save_pair_steps(record: dict[str, Any]) -> Program[None]:
    """Add one pair to the store's aggregates (a store program)."""
    route, p, s = record["route"], record["primary"], record["shadow"]
    model = s["target"]
    adds = {
        "pairs": 1,
        "exact": 1 if record["exact_match"] else 0,
        "similarity": record["similarity"],
        "finish_same": 1 if p["finish_reason"] == s["finish_reason"] else 0,
        "primary_latency_s": p["latency_s"],
        "shadow_latency_s": s["latency_s"],
        "primary_cost_usd": p["cost_usd"],
        "shadow_cost_usd": s["cost_usd"],
        "primary_tokens": p["prompt_tokens"] + p["completion_tokens"],
        "shadow_tokens": s["prompt_tokens"] + s["completion_tokens"],
        "primary_chars": p["chars"],
        "shadow_chars": s["chars"],
    }
    for name, amount in adds.items():
        yield op("incr", _key(route, model, name), float(amount))


def _summary(sums: dict[str, float]) -> dict[str, Any]:
    n = sums.get("pairs", 0.0)
    out: dict[str, Any] = {k: int(sums.get(k, 0)) for k in ("pairs", *COUNTERS)}
    if n:
        out.update(
            exact_match_pct=100.0 * sums["exact"] / n,
            mean_similarity=sums["similarity"] / n,
            finish_reason_agreement_pct=100.0 * sums["finish_same"] / n,
            primary_mean_latency_s=sums["primary_latency_s"] / n,
            shadow_mean_latency_s=sums["shadow_latency_s"] / n,
            primary_cost_usd=sums["primary_cost_usd"],
            shadow_cost_usd=sums["shadow_cost_usd"],
            primary_mean_tokens=sums["primary_tokens"] / n,
            shadow_mean_tokens=sums["shadow_tokens"] / n,
            primary_mean_chars=sums["primary_chars"] / n,
            shadow_mean_chars=sums["shadow_chars"] / n,
        )
    return out


def summarise_store(store: StateStore, route: str, model: str) -> dict[str, Any]:
    """The aggregates the store holds for (route, shadow model)."""
    sums = {}
    for name in (*_SUMS, *COUNTERS):
        v = store.get(_key(route, model, name))
        sums[name] = 0.0 if v is None else float(v)
    return _summary(sums)


def read_pairs(path: str, route: str) -> Iterator[dict[str, Any] | None]:
    """The pair records of ``route`` in a JSONL shadow log; ``None`` for each unreadable line.

    A pair is checked to hold what :func:`summarise_log` and the HTML report
    read (numbers where numbers belong); a missing file yields nothing.
    """
    p = Path(path)
    if not p.exists():
        return
    with p.open(encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
                if r["route"] != route:
                    continue
                numbers = [float(r["similarity"])]
                for side in (r["primary"], r["shadow"]):
                    numbers += [float(side["latency_s"]), float(side["cost_usd"])]
                    int(side["prompt_tokens"] + side["completion_tokens"] + side["chars"])
                if not all(math.isfinite(x) for x in numbers):
                    raise ValueError("not a finite number")  # JSON lets NaN through
            except (ValueError, KeyError, TypeError):
                yield None  # a torn or foreign line: skip it, count it
                continue
            yield r


def summarise_log(path: str, route: str) -> dict[str, Any]:
    """The same summary computed from a route's JSONL pair log (pairs only, no counters)."""
    sums: dict[str, float] = dict.fromkeys(_SUMS, 0.0)
    errors = 0
    for r in read_pairs(path, route):
        if r is None:
            errors += 1
            continue
        pr, sh = r["primary"], r["shadow"]
        sums["pairs"] += 1
        sums["exact"] += 1 if r["exact_match"] else 0
        sums["similarity"] += float(r["similarity"])
        sums["finish_same"] += 1 if pr["finish_reason"] == sh["finish_reason"] else 0
        for side, d in (("primary", pr), ("shadow", sh)):
            sums[f"{side}_latency_s"] += float(d["latency_s"])
            sums[f"{side}_cost_usd"] += float(d["cost_usd"])
            sums[f"{side}_tokens"] += d["prompt_tokens"] + d["completion_tokens"]
            sums[f"{side}_chars"] += d["chars"]
    out = _summary(sums)
    out["unreadable_lines"] = errors
    return out


def summary_cells(s: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    """A summary as printed: (measure, value) rows, and (measure, primary, shadow) rows.

    The text of ``llm-router migration report`` and the HTML page both print
    these strings, so they show the same numbers.
    """
    counts = [["pairs compared", str(s["pairs"])]]
    counts += [[k.replace("_", " "), str(s[k])] for k in (*COUNTERS, "unreadable_lines") if k in s]
    if not s["pairs"]:
        return counts, []
    counts += [
        ["exact match", f"{s['exact_match_pct']:.1f}%"],
        ["mean similarity", f"{s['mean_similarity']:.3f}"],
        ["same finish reason", f"{s['finish_reason_agreement_pct']:.1f}%"],
    ]
    sides = [
        [
            "latency (mean)",
            f"{s['primary_mean_latency_s'] * 1000:.0f}ms",
            f"{s['shadow_mean_latency_s'] * 1000:.0f}ms",
        ],
        ["cost (total)", f"${s['primary_cost_usd']:.6f}", f"${s['shadow_cost_usd']:.6f}"],
        ["tokens (mean)", f"{s['primary_mean_tokens']:.0f}", f"{s['shadow_mean_tokens']:.0f}"],
        [
            "output chars (mean)",
            f"{s['primary_mean_chars']:.0f}",
            f"{s['shadow_mean_chars']:.0f}",
        ],
    ]
    return counts, sides
