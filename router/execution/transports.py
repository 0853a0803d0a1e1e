"""Optional transports for the async client.

httpx's own async connection pool spends most of its time on bookkeeping
once many requests are in flight; aiohttp's pool does not. With the
``httpx-aiohttp`` package installed, :func:`aiohttp_transport` puts aiohttp
under the same ``httpx.AsyncClient`` the router already uses, so adapters,
timeouts and error mapping stay as they are::

    AsyncRouter.from_file("router.yaml", transport_factory="aiohttp")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from ..targets import Target

__all__ = ["aiohttp_available", "aiohttp_transport"]


def aiohttp_available() -> bool:
    """Whether ``httpx-aiohttp`` is installed (``transport_factory="auto"`` then uses it)."""
    import importlib.util

    return importlib.util.find_spec("httpx_aiohttp") is not None


def aiohttp_transport(target: Target) -> httpx.AsyncBaseTransport:
    """An aiohttp-backed httpx transport sized by the target's provider ``max_connections``."""
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        raise ImportError(
            "transport_factory='aiohttp' needs the httpx-aiohttp package: "
            "pip install 'llm-policy-router[aiohttp]' (or pip install httpx-aiohttp)"
        ) from None
    import httpx

    n = target.provider_config.max_connections
    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)
    )
    return transport
