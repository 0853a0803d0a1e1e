"""llm-policy-router: one client for every LLM target, routed by declarative policy.

>>> from router import Router
>>> with Router.from_file("router.yaml") as r:          # doctest: +SKIP
...     print(r.chat([{"role": "user", "content": "Hi"}]).content)
"""

from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__
from .client import AsyncRouter, AsyncStream, Router, Stream
from .errors import (
    AuthenticationError,
    BudgetExceeded,
    ConfigError,
    ContextLengthExceeded,
    InvalidRequestError,
    NoEligibleTarget,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitError,
    RequestError,
    RouterError,
    StateUnavailable,
    StreamConsumed,
    StreamInterrupted,
    UnknownRoute,
)
from .policy import Decision
from .types import (
    Attempt,
    ChatChunk,
    ChatResponse,
    Message,
    RequestContext,
    RouteInfo,
    Usage,
)

if TYPE_CHECKING:
    from .embeddings import Embedding, EmbeddingResponse, EmbeddingUsage

_LAZY = frozenset({"Embedding", "EmbeddingResponse", "EmbeddingUsage"})


def __getattr__(name: str) -> Any:
    # The embedding types load at first use: ``import router`` never pays for them.
    if name in _LAZY:
        from . import embeddings

        return getattr(embeddings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncRouter",
    "AsyncStream",
    "Attempt",
    "AuthenticationError",
    "BudgetExceeded",
    "ChatChunk",
    "ChatResponse",
    "ConfigError",
    "ContextLengthExceeded",
    "Decision",
    "Embedding",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "InvalidRequestError",
    "Message",
    "NoEligibleTarget",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimitError",
    "RequestContext",
    "RequestError",
    "RouteInfo",
    "Router",
    "RouterError",
    "StateUnavailable",
    "Stream",
    "StreamConsumed",
    "StreamInterrupted",
    "UnknownRoute",
    "Usage",
    "__version__",
    "errors",
]
