"""Ledger records: one per finished request, written to the state store.

A record holds who asked, where the request went, the tokens and what they
cost — never message content, never credentials. The ``report`` command
aggregates them, and reads the telemetry audit log's records too
(:meth:`LedgerRecord.from_audit`, :func:`parse_record`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ..state import StateStore

__all__ = ["LedgerRecord", "parse_record", "read_ledger"]


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One request's spend.

    ``cost_usd`` is the marginal (billed) cost; ``amortised_cost_usd`` the
    self-hosted GPU cost spread per token (``None`` without ``cost:``).
    ``reserved_usd`` is what was held against budgets before sending and
    ``excess_usd`` how far the commit went beyond a live hold (non-zero only
    when usage exceeded the pre-flight bound or the hold had expired: this
    is the quantity that bounds budget overshoot). ``outcome`` is ``ok``,
    ``interrupted`` (a stream that stopped after content was delivered) or
    ``unknown`` (a paid send that timed out unanswered); both of the latter
    are charged at the reserved worst case, flagged estimated. ``shadow_of`` is
    set on a shadow copy's record: the decision id of the request it copied
    (shadow spend is real spend, reported apart by ``llm-router report``).
    ``cache`` is ``hit`` on the record of an answer served from the response
    cache (cost and tokens zero: nothing was sent), ``miss`` on an answer
    the route's cache was looked up for and did not hold, ``None`` when the
    cache did not apply.
    """

    ts: float
    request_id: str
    route: str
    target: str
    model: str
    provider: str
    zone: str
    tenant: str | None = None
    user: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    amortised_cost_usd: float | None = None
    estimated: bool = False
    reserved_usd: float = 0.0
    excess_usd: float = 0.0
    budgets: tuple[str, ...] = ()
    outcome: str = "ok"
    shadow_of: str | None = None
    cache: str | None = None

    def to_json(self) -> str:
        """One JSON line."""
        # Every field is flat (``budgets`` a tuple of str): no deep copy needed,
        # and asdict's recursive walk was the costliest step of a commit.
        d = {f: getattr(self, f) for f in _SORTED_FIELDS}  # key order = sort_keys, no sort
        d["budgets"] = list(self.budgets)
        return _ENCODER.encode(d)

    @classmethod
    def from_json(cls, line: str) -> LedgerRecord:
        """Parse a line written by :meth:`to_json` (unknown fields are ignored)."""
        return cls.from_dict(json.loads(line))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LedgerRecord:
        """Build from a mapping with at least ``ts``, ``route``, ``target`` (others default)."""
        data = {k: v for k, v in d.items() if k in _FIELDS}
        data.setdefault("request_id", "")
        data.setdefault("model", data.get("target", ""))
        data.setdefault("provider", "")
        data.setdefault("zone", "")
        data["budgets"] = tuple(data.get("budgets") or ())
        return cls(**data)

    @classmethod
    def from_audit(cls, d: Mapping[str, Any]) -> LedgerRecord | None:
        """The spend of one telemetry audit-log record, or None when it has none.

        Denied requests and requests that failed without an answer carry no
        cost (the ledger has no record for them either). The audit log keeps
        no user ids and no budget reservations: ``user`` stays unset and
        ``reserved_usd``/``excess_usd`` zero. Logs written before the record
        carried ``provider``/``model`` report the target name as the model.
        """
        target, cost = d.get("target"), d.get("cost_usd")
        if d.get("outcome") != "ok" or not target or cost is None:
            return None
        amortised = d.get("amortised_cost_usd")
        shadow_of = d.get("shadow_of")
        cache = d.get("cache")
        return cls(
            ts=datetime.fromisoformat(str(d["time"])).timestamp(),
            request_id=str(d.get("decision_id") or ""),
            route=str(d.get("route") or ""),
            target=str(target),
            model=str(d.get("model") or target),
            provider=str(d.get("provider") or ""),
            zone=str(d.get("zone") or ""),
            tenant=d.get("tenant"),
            prompt_tokens=int(d.get("input_tokens") or 0),
            completion_tokens=int(d.get("output_tokens") or 0),
            cached_tokens=int(d.get("cached_tokens") or 0),
            cost_usd=float(cost),
            amortised_cost_usd=None if amortised is None else float(amortised),
            estimated=bool(d.get("cost_estimated")),
            shadow_of=str(shadow_of) if shadow_of else None,
            cache=str(cache) if cache else None,
        )


_FIELDS = frozenset(f.name for f in fields(LedgerRecord))
_SORTED_FIELDS = tuple(sorted(_FIELDS))
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def parse_record(d: Any) -> LedgerRecord | None:
    """A ledger record (has ``ts``) or an audit-log record (has ``time``), as spend.

    Returns None for an audit record without spend (denied, failed); raises
    ``ValueError`` for anything else.
    """
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    if "ts" in d:
        return LedgerRecord.from_dict(d)
    if "time" in d and "decision_id" in d:
        return LedgerRecord.from_audit(d)
    raise ValueError("neither a ledger record (ts) nor an audit-log record (time, decision_id)")


def read_ledger(
    store: StateStore, since: float | None = None, until: float | None = None
) -> list[LedgerRecord]:
    """Every record in ``store`` with ``since <= ts < until``, oldest first."""
    return [LedgerRecord.from_json(line) for line in store.ledger_read(since, until)]
