"""``llm-router serve``: an OpenAI- and Anthropic-compatible HTTP gateway over AsyncRouter.

Importing this package loads nothing heavy; :mod:`router.gateway.app` needs the
``gateway`` extra (starlette, uvicorn). See docs/gateway.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Gateway, create_app, router_for

__all__ = ["Gateway", "create_app", "router_for"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
