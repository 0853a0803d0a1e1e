"""The router's exception tree.

Every error the router raises derives from :class:`RouterError`. Provider
errors carry the HTTP status and the provider's own error type/code, never a
request header: API keys cannot reach a message or a repr by construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import Attempt

__all__ = [
    "AuthenticationError",
    "BudgetExceeded",
    "ConfigError",
    "ContextLengthExceeded",
    "InvalidRequestError",
    "NoEligibleTarget",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimitError",
    "RequestError",
    "RouterError",
    "StateUnavailable",
    "StreamConsumed",
    "StreamInterrupted",
    "UnknownRoute",
]


class RouterError(Exception):
    """Base class of every error raised by the router."""


class ConfigError(RouterError, ValueError):
    """A configuration document is invalid.

    ``file``, ``line`` and ``key`` locate the problem where they are known;
    ``str()`` renders them as ``file:line: key: message``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        problems: list[ConfigError] | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.problems: list[ConfigError] = problems or []
        super().__init__(self._render())

    def _render(self) -> str:
        if self.problems:
            return "\n".join(p._render() for p in self.problems)
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class RequestError(RouterError, ValueError):
    """A call's own arguments are malformed: nothing was decided or sent.

    ``field`` names the offending field (``messages[2].content[0].text``).
    The message never quotes the value: a malformed part may hold the very
    data the policy protects.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


def request_error(error: Any, root: str = "") -> RequestError:
    """A :class:`RequestError` for a pydantic ``ValidationError``, without the input.

    pydantic's own text quotes the offending value (``input_value=…``), which
    may be the very data the policy protects; this keeps only where and what.
    """
    problems: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        loc = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i or root else str(p))
            for i, p in enumerate(item.get("loc", ()))
        )
        problems.append(f"{root}{loc or ''}: {item.get('msg', 'invalid')}")
    return RequestError("; ".join(problems) or "invalid request")


class NoEligibleTarget(RouterError):
    """The policy admitted no target for this request (fail closed).

    ``decision`` is the full :class:`router.policy.Decision`, whose
    ``explain()`` says why each candidate was excluded.
    """

    def __init__(self, message: str, decision: Any = None) -> None:
        self.decision = decision
        super().__init__(message)


class UnknownRoute(RouterError, LookupError):
    """``model=`` names neither a route nor a model of the config."""


class BudgetExceeded(NoEligibleTarget):
    """Every admitted target would overrun a budget that applies."""


class StateUnavailable(RouterError):
    """The shared state store cannot be reached, so a budget cannot be enforced.

    Raised by budget and ledger operations while the store is unreachable
    (never a fallback to process memory: that would allow unbounded spend
    across processes). A call under a budget is refused with it before
    anything is sent; it may succeed once the store is back (the router
    reconnects by itself). ``store`` names the store, without credentials;
    ``operation`` is the refused store operation.
    """

    def __init__(
        self, message: str, *, store: str | None = None, operation: str | None = None
    ) -> None:
        self.store = store
        self.operation = operation
        super().__init__(message)


class ProviderError(RouterError):
    """A target answered with an error, or could not be reached.

    ``status`` is the HTTP status (``None`` for transport failures),
    ``code`` the provider's error code or type, ``target`` the config name
    of the model that failed, ``attempts`` every attempt made before the
    router gave up. ``retry_after_s`` is the delay the server asked for
    (``retry-after-ms`` / ``Retry-After``, on any status), ``should_retry``
    its ``x-should-retry`` verdict (``None``: it gave none); both steer the
    retry decision, and ``should_retry`` overrides ``retryable``.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        target: str | None = None,
        provider: str | None = None,
        attempts: list[Attempt] | None = None,
        retry_after_s: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.target = target
        self.provider = provider
        self.attempts: list[Attempt] = attempts or []
        self.retry_after_s = retry_after_s
        self.should_retry = should_retry
        if should_retry is not None:
            self.retryable = should_retry
        super().__init__(message)

    def __str__(self) -> str:
        parts = []
        if self.target:
            parts.append(f"[{self.target}]")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"({self.code})")
        parts.append(self.message)
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, target={self.target!r})"
        )


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (401/403). Never retried."""


class RateLimitError(ProviderError):
    """The provider throttled the request (429).

    ``quota_exhausted`` marks a 429 that waiting will not fix (unless the
    server says otherwise with ``x-should-retry: true``).
    """

    retryable = True

    def __init__(self, message: str, *, quota_exhausted: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.quota_exhausted = quota_exhausted
        if quota_exhausted and self.should_retry is None:
            self.retryable = False


class InvalidRequestError(ProviderError):
    """The provider refused the request as malformed (400/404/413/422)."""


class ContextLengthExceeded(InvalidRequestError):
    """The prompt plus requested output exceed the target's context window."""


class ProviderUnavailable(ProviderError):
    """The provider failed or could not be reached (5xx, 529, connection error)."""

    retryable = True


class ProviderTimeout(ProviderUnavailable):
    """A connect, read, first-token or overall deadline expired."""


class StreamInterrupted(ProviderError):
    """A stream failed after content had already reached the caller.

    ``text`` is everything received so far; no fallback is possible then,
    because the caller has already seen part of one target's answer.
    """

    def __init__(self, message: str, *, text: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.text = text


class StreamConsumed(RouterError, RuntimeError):
    """A stream was iterated a second time, or after it was closed.

    A stream is read once, and its request finished (settled, audited,
    shadowed) once, when that reading ends; the assembled reply stays
    available as ``stream.response``.
    """
