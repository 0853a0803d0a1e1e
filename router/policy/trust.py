"""What a rule's ``allow``/``deny`` trust filter means, in one place.

The policy engine applies trust filters to targets before anything is sent;
``llm-router audit verify`` applies the same filters to the targets an audit
record says were contacted. Both describe a target by the same attributes
(:func:`attributes`) and compare them the same way (:func:`allow_failure`,
:func:`deny_hit`): values case-folded; ``provider`` matches the provider's
name or its kind, ``model`` the model's config name or its id; an ``allow``
admits a target only when every listed field does (an unset attribute
admits nothing), a ``deny`` excludes it when any listed field hits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.schema import TrustFilter
    from ..targets import Target

__all__ = [
    "ENUMS",
    "FIELDS",
    "Fields",
    "allow_failure",
    "attributes",
    "deny_hit",
    "filter_fields",
    "values",
]

FIELDS = (
    "zone",
    "region",
    "provider",
    "model",
    "license",
    "openness",
    "origin",
    "data_retention",
)
"""The fields a trust filter may list."""

ENUMS: Mapping[str, frozenset[str]] = {
    "openness": frozenset(
        {"closed", "open_weights_restricted", "open_weights_permissive", "fully_open"}
    ),
    "data_retention": frozenset({"none", "zero", "standard"}),
}
"""Fields whose values are a closed set: anything else in a filter is a config error."""

Fields = list[tuple[str, frozenset[str]]]


def attributes(t: Target) -> dict[str, Any]:
    """A target's trust attributes, as audit records keep them."""
    return {
        "target": t.name,
        "provider": t.provider,
        "kind": t.kind,
        "provider_name": t.provider_name,
        "model": t.model_id,
        "zone": t.zone,
        "region": t.region,
        "data_retention": t.data_retention,
        "license": t.license,
        "openness": t.openness,
        "origin": t.origin,
    }


def values(attrs: Mapping[str, Any], field: str) -> frozenset[str]:
    """What a filter on ``field`` compares with, from a target's :func:`attributes`."""
    raw: tuple[Any, ...]
    if field == "provider":
        raw = (attrs.get("provider"), attrs.get("kind"))
    elif field == "model":
        raw = (attrs.get("target"), attrs.get("model"))
    else:
        raw = (attrs.get(field),)
    return frozenset(str(v).casefold() for v in raw if v)


def filter_fields(f: TrustFilter) -> Fields:
    """The fields ``f`` lists, each with its values case-folded."""
    out: Fields = []
    for name in FIELDS:
        listed = getattr(f, name)
        if listed is not None:
            out.append((name, frozenset(v.casefold() for v in listed)))
    return out


def allow_failure(
    fields: Fields, attrs: Mapping[str, Any]
) -> tuple[str, frozenset[str], frozenset[str]] | None:
    """``(field, allowed, target's values)`` for the first listed field that does not
    admit the target, or ``None`` when the ``allow`` admits it."""
    for name, allowed in fields:
        have = values(attrs, name)
        if have.isdisjoint(allowed):
            return name, allowed, have
    return None


def deny_hit(fields: Fields, attrs: Mapping[str, Any]) -> tuple[str, frozenset[str]] | None:
    """``(field, values hit)`` for the first listed field the target hits, or ``None``."""
    for name, denied in fields:
        hit = values(attrs, name) & denied
        if hit:
            return name, hit
    return None
