"""Bundled model metadata (``models.yaml``): licence, openness, origin, context, prices.

A config model names an entry with ``catalog:``; the entry's fields become
defaults the config overrides (see :func:`router.targets.resolve_targets`).
Entries are keyed by model (``llama-3.3-70b``) and by hosted offering
(``llama-3.3-70b@together``): an offering adds that provider's list price
(with its ``source`` and ``as_of`` date).

Every entry and every price carries the date it was last checked
(``as_of``: its own, else the file's); :func:`stale_items` lists those older
than a cut-off (``llm-router models --stale``). The data file is checked as
it is parsed: a malformed date, an unknown openness value or a price without
its source is a :class:`CatalogError` naming the entry and field.

The data file is read on first use only, so importing the router stays cheap
and configs that reference no catalog entry never parse it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from .freshness import StaleItem, parse_as_of, stale_items
from .validate import CatalogError, check

__all__ = [
    "CatalogEntry",
    "CatalogError",
    "LazyCatalog",
    "Offering",
    "StaleItem",
    "load_catalog",
    "parse_catalog",
    "stale_items",
]

# Fields an entry lends a config model (the rest is descriptive).
_MODEL_FIELDS = ("context_window", "capabilities", "license", "openness", "origin")


@dataclass(frozen=True, slots=True)
class Offering:
    """One provider serving a catalog model: its model id and list price."""

    provider: str
    model: str
    price: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A catalog model, optionally narrowed to one hosted offering."""

    key: str
    name: str
    family: str
    developer: str
    fields: Mapping[str, Any]
    license_notes: str = ""
    offerings: tuple[Offering, ...] = ()
    offering: Offering | None = None
    notes: str = ""
    as_of: str = ""
    """When the entry's facts were last checked (``YYYY-MM[-DD]``)."""
    status: str = "active"
    """The developer's lifecycle label: active, legacy, deprecated or retired."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def model_dump(self, exclude_unset: bool = True) -> dict[str, Any]:
        """The defaults a config model inherits (the shape ``resolve_targets`` merges)."""
        out = {k: v for k, v in self.fields.items() if v is not None}
        if self.offering is not None and self.offering.price is not None:
            out["price"] = dict(self.offering.price)
        return out

    def get(self, name: str, default: Any = None) -> Any:
        """A model field of this entry (``license``, ``openness``, ``context_window``...)."""
        return self.fields.get(name, default)


def _as_of(value: object) -> str:
    # YAML reads an unquoted 2025-09-29 as a date; keep the text form.
    return parse_as_of(value).isoformat() if not isinstance(value, str) else value


def parse_catalog(data: object) -> dict[str, CatalogEntry]:
    """Check the parsed data file (:class:`CatalogError` listing every problem)
    and build its entries: one per model key and one per ``key@provider``."""
    check(data)
    assert isinstance(data, Mapping)  # check() has said so
    file_as_of = _as_of(data["as_of"])
    out: dict[str, CatalogEntry] = {}
    for key, raw in data["models"].items():
        entry_as_of = _as_of(raw["as_of"]) if "as_of" in raw else file_as_of
        offerings = []
        for prov, o in (raw.get("offerings") or {}).items():
            price = o.get("price")
            if price is not None:
                price = {**price, "as_of": _as_of(price.get("as_of", entry_as_of))}
            offerings.append(Offering(prov, str(o["model"]), price))
        fields = {k: raw.get(k) for k in _MODEL_FIELDS}
        if fields["capabilities"] is not None:
            fields["capabilities"] = tuple(fields["capabilities"])
        entry = CatalogEntry(
            key=key,
            name=str(raw.get("name", key)),
            family=str(raw.get("family", "")),
            developer=str(raw.get("developer", "")),
            fields=fields,
            license_notes=str(raw.get("license_notes", "")),
            offerings=tuple(offerings),
            notes=str(raw.get("notes", "")),
            as_of=entry_as_of,
            status=str(raw.get("status", "active")),
        )
        out[key] = entry
        for o in offerings:
            out[f"{key}@{o.provider}"] = CatalogEntry(
                key=f"{key}@{o.provider}",
                name=entry.name,
                family=entry.family,
                developer=entry.developer,
                fields=entry.fields,
                license_notes=entry.license_notes,
                offerings=entry.offerings,
                offering=o,
                notes=entry.notes,
                as_of=entry.as_of,
                status=entry.status,
            )
    return out


@lru_cache(maxsize=1)
def load_catalog() -> Mapping[str, CatalogEntry]:
    """The bundled catalog, parsed and checked once per process."""
    import yaml

    text = resources.files(__name__).joinpath("models.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return parse_catalog(yaml.load(text, Loader=loader))


class LazyCatalog(Mapping[str, CatalogEntry]):
    """The bundled catalog as a mapping that parses the data file on first access."""

    def _data(self) -> Mapping[str, CatalogEntry]:
        return load_catalog()

    def __bool__(self) -> bool:
        # ``catalog or {}`` must not parse the file just to test truthiness.
        return True

    def __getitem__(self, key: str) -> CatalogEntry:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())
