"""The exact response cache: a route's answers kept in the state store for a while.

Opt-in per route (``routes.<name>.cache: {ttl_s, max_entries, ignore_temperature}``).
The facade runs two store programs around a call (docs/cache.md):

- :func:`lookup_steps`, after the policy decided and before budgets reserve:
  the entry under the request's :func:`digest` (tenant, policy hash, route,
  the normalised request), served only if the Decision still admits the
  target that produced it;
- :func:`store_steps`, when a call finished with an answer (a complete
  stream included): the entry, written with its expiry, evicting the oldest
  entry of the route's ring once it holds ``max_entries``.

A rule's ``cache: false`` effect and the temperature rule are the policy's
(``Decision.cache``). :func:`replay_chunks` turns a cached answer into the
chunks of a stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazyexports import lazy_exports

if TYPE_CHECKING:
    from .entries import Hit, Lookup, lookup_steps, store_steps
    from .key import digest
    from .replay import replay_chunks

__all__ = ["EXTRA_KEY", "Hit", "Lookup", "digest", "lookup_steps", "replay_chunks", "store_steps"]

EXTRA_KEY = "cache"
"""Where the facade keeps a call's :class:`Lookup` in ``Call.extra``."""

# The cache is opt-in per route: a router whose config caches nothing never
# loads the submodules (their dataclasses, JSON and hashing), which keeps
# start-up short; each name is imported on first use (PEP 562).
_HOMES = {
    "Hit": "entries",
    "Lookup": "entries",
    "lookup_steps": "entries",
    "store_steps": "entries",
    "digest": "key",
    "replay_chunks": "replay",
}

__getattr__ = lazy_exports(__name__, _HOMES)
