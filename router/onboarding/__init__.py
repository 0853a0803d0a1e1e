"""Onboarding: ``llm-router init`` (what is running, as a config) and
``llm-router doctor`` (does every target of a config answer).

:mod:`router.onboarding.discover` finds local servers on their default
loopback ports and providers whose API-key variables are set, and writes a
commented config; :mod:`router.onboarding.doctor` probes each provider's
list-models endpoint (no tokens spent), the state store and the audit log.
Both build requests and interpret responses as plain functions; only their
``run``-style entry points do I/O, through an ``httpx.Client`` a test may
replace.
"""

from __future__ import annotations

from .discover import DEFAULT_PORTS, Found, LocalPort, discover_local, keyed_providers, render
from .doctor import Check, exit_status

__all__ = [
    "DEFAULT_PORTS",
    "Check",
    "Found",
    "LocalPort",
    "discover_local",
    "exit_status",
    "keyed_providers",
    "render",
]
