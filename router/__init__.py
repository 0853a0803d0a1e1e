"""llm-policy-router: one client for every LLM target, routed by declarative policy.

>>> from router import Router
>>> with Router.from_file("router.yaml") as r:          # doctest: +SKIP
...     print(r.chat([{"role": "user", "content": "Hi"}]).content)
"""

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
