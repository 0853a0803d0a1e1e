"""Checks on the catalog's data file, so a bad edit fails with its location.

Every problem is collected and reported at once as a :class:`CatalogError`
(``models.<key>.<field>: message`` per line). The sets of openness values
and capabilities mirror ``router.config.schema`` (which this package must not
import); ``tests/test_policy_catalog.py`` holds the two to the same values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .freshness import parse_as_of

__all__ = ["CAPABILITIES", "OPENNESS", "STATUSES", "CatalogError", "check"]

OPENNESS = frozenset({"closed", "open_weights_restricted", "open_weights_permissive", "fully_open"})
CAPABILITIES = frozenset({"tools", "json_schema", "vision", "streaming", "embeddings"})
# The developer's lifecycle label: legacy (superseded, still served), deprecated
# (retirement announced), retired (no longer served by the developer's own API).
STATUSES = frozenset({"active", "legacy", "deprecated", "retired"})

_REQUIRED = ("name", "family", "developer", "origin", "license", "openness", "context_window")
_OPTIONAL = ("license_notes", "capabilities", "notes", "offerings", "as_of", "status")
_PRICE_RATES = ("input", "output", "cached_input", "cache_write")
_PRICE_KEYS = frozenset((*_PRICE_RATES, "source", "as_of"))
_ORIGIN = re.compile(r"[A-Z]{2}")  # ISO 3166-1 alpha-2
_URL = re.compile(r"https://[^\s/]+\.[^\s/]+(/\S*)?")


class CatalogError(ValueError):
    """The bundled catalog's data file is malformed; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = f"router/catalog/models.yaml: {len(problems)} problem(s)"
        super().__init__("\n".join([head, *problems]))


def _date(where: str, value: object, out: list[str]) -> None:
    try:
        parse_as_of(value)
    except ValueError as e:
        out.append(f"{where}: {e}")


def _price(where: str, price: object, out: list[str]) -> None:
    if not isinstance(price, Mapping):
        out.append(f"{where}: expected a mapping of rates, got {type(price).__name__}")
        return
    for k in sorted(set(price) - _PRICE_KEYS, key=str):
        out.append(f"{where}.{k}: unknown price field (known: {', '.join(sorted(_PRICE_KEYS))})")
    for k in _PRICE_RATES:
        if k not in price:
            if k in ("input", "output"):
                out.append(f"{where}.{k}: missing")
            continue
        v = price[k]
        # bool is an int to Python; a rate of `true` is a typo, not a price.
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            out.append(f"{where}.{k}: expected a finite number >= 0 (USD per 1M tokens), got {v!r}")
    source = price.get("source")
    if not isinstance(source, str) or _URL.fullmatch(source) is None:
        out.append(f"{where}.source: expected the https:// URL the price was read from")
    if "as_of" in price:
        _date(f"{where}.as_of", price["as_of"], out)


def _entry(key: str, raw: object, out: list[str]) -> None:
    where = f"models.{key}"
    if not isinstance(raw, Mapping):
        out.append(f"{where}: expected a mapping, got {type(raw).__name__}")
        return
    for k in sorted(set(raw) - {*_REQUIRED, *_OPTIONAL}, key=str):
        out.append(f"{where}.{k}: unknown field")
    for k in _REQUIRED:
        if raw.get(k) in (None, ""):
            out.append(f"{where}.{k}: missing")
    for k in ("name", "family", "developer", "license", "license_notes", "notes"):
        if k in raw and not isinstance(raw[k], str):
            out.append(f"{where}.{k}: expected text, got {type(raw[k]).__name__}")
    openness = raw.get("openness")
    if openness is not None and openness not in OPENNESS:
        out.append(
            f"{where}.openness: unknown value {openness!r}; expected one of "
            + ", ".join(sorted(OPENNESS))
        )
    status = raw.get("status")
    if status is not None and status not in STATUSES:
        out.append(
            f"{where}.status: unknown value {status!r}; expected one of "
            + ", ".join(sorted(STATUSES))
        )
    origin = raw.get("origin")
    if origin is not None and (not isinstance(origin, str) or not _ORIGIN.fullmatch(origin)):
        out.append(f"{where}.origin: expected an ISO 3166 country code such as US, got {origin!r}")
    ctx = raw.get("context_window")
    if ctx is not None and (isinstance(ctx, bool) or not isinstance(ctx, int) or ctx <= 0):
        out.append(f"{where}.context_window: expected a whole number of tokens > 0, got {ctx!r}")
    caps = raw.get("capabilities")
    if caps is not None:
        if not isinstance(caps, list):
            out.append(f"{where}.capabilities: expected a list")
        else:
            for c in caps:
                if c not in CAPABILITIES:
                    out.append(
                        f"{where}.capabilities: unknown capability {c!r}; expected "
                        + ", ".join(sorted(CAPABILITIES))
                    )
    if "as_of" in raw:
        _date(f"{where}.as_of", raw["as_of"], out)
    offerings = raw.get("offerings")
    if offerings is None:
        return
    if not isinstance(offerings, Mapping):
        out.append(f"{where}.offerings: expected a mapping of provider to offering")
        return
    for prov, o in offerings.items():
        ow = f"{where}.offerings.{prov}"
        if not isinstance(o, Mapping):
            out.append(f"{ow}: expected a mapping with `model`")
            continue
        for k in sorted(set(o) - {"model", "price"}, key=str):
            out.append(f"{ow}.{k}: unknown field")
        if not isinstance(o.get("model"), str) or not o["model"]:
            out.append(f"{ow}.model: missing")
        if o.get("price") is not None:
            _price(f"{ow}.price", o["price"], out)


def check(data: object) -> None:
    """Raise :class:`CatalogError` listing every problem in the parsed data file."""
    out: list[str] = []
    if not isinstance(data, Mapping):
        raise CatalogError([f"expected a mapping at the top, got {type(data).__name__}"])
    for k in sorted(set(data) - {"as_of", "models"}, key=str):
        out.append(f"{k}: unknown top-level field")
    if "as_of" not in data:
        out.append("as_of: missing (the date the file was last checked)")
    else:
        _date("as_of", data["as_of"], out)
    models = data.get("models")
    if not isinstance(models, Mapping) or not models:
        out.append("models: expected a mapping of catalog keys to entries")
    else:
        for key, raw in models.items():
            if not isinstance(key, str) or not key or "@" in key:
                out.append(f"models.{key}: a key is non-empty text without '@'")
            _entry(str(key), raw, out)
    if out:
        raise CatalogError(out)
