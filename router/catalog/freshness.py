"""The catalog's dates: when each fact was checked, and which are now stale.

An ``as_of`` is ``YYYY-MM-DD`` or ``YYYY-MM`` (checked some time that
month). A month-only date counts from the month's first day, so a fact is
called stale no later than it really is. The clock is an argument: nothing
here reads the time.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import CatalogEntry

__all__ = ["StaleItem", "months_before", "parse_as_of", "stale_items"]

# ASCII digits only: `\d` would also take other scripts' digits, which int() reads.
_AS_OF = re.compile(r"([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?")


def parse_as_of(value: object) -> dt.date:
    """The date an ``as_of`` value names; ``ValueError`` saying why if it names none.

    YAML turns an unquoted ``2025-09-29`` into a :class:`datetime.date`,
    which is accepted as such; a timestamp or anything else is not.
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date YYYY-MM-DD or YYYY-MM, got {type(value).__name__}")
    m = _AS_OF.fullmatch(value)
    if m is None:
        raise ValueError(f"expected a date YYYY-MM-DD or YYYY-MM, got {value!r}")
    year, month, day = int(m[1]), int(m[2]), int(m[3] or 1)
    try:
        return dt.date(year, month, day)
    except ValueError as e:  # 2025-13, 2025-02-30
        raise ValueError(f"not a calendar date: {value!r} ({e})") from None


def months_before(day: dt.date, months: int) -> dt.date:
    """``day`` moved back ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


@dataclass(frozen=True, slots=True)
class StaleItem:
    """A catalog key whose facts (``what='facts'``) or list price (``'price'``) were
    last checked on ``as_of``, before the cut-off."""

    key: str
    what: str
    as_of: str
    checked: dt.date

    def age_months(self, today: dt.date) -> int:
        """Whole months from ``checked`` to ``today``."""
        months = (today.year - self.checked.year) * 12 + today.month - self.checked.month
        return months - (today.day < self.checked.day)


def stale_items(
    catalog: Mapping[str, CatalogEntry] | Iterable[CatalogEntry],
    today: dt.date,
    months: int = 6,
) -> list[StaleItem]:
    """Every model entry and every offering price checked before ``today`` minus
    ``months`` months, oldest first (then by key).

    A model's own facts are listed under its key, a price under
    ``key@provider`` — the keys a config names with ``catalog:``.
    """
    if months < 0:
        raise ValueError(f"months must not be negative, got {months}")
    cutoff = months_before(today, months)
    entries = catalog.values() if isinstance(catalog, Mapping) else catalog
    found: list[StaleItem] = []
    for e in entries:
        if e.offering is not None:
            continue  # a key@provider view repeats its model's entry
        checked = parse_as_of(e.as_of)
        if checked < cutoff:
            found.append(StaleItem(e.key, "facts", e.as_of, checked))
        for o in e.offerings:
            if o.price is None:
                continue
            as_of = str(o.price["as_of"])
            checked = parse_as_of(as_of)
            if checked < cutoff:
                found.append(StaleItem(f"{e.key}@{o.provider}", "price", as_of, checked))
    return sorted(found, key=lambda s: (s.checked, s.key))
