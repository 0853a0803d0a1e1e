"""The observer seam: the pipeline reports request and attempt boundaries here.

The default observer does nothing, so a router with telemetry off pays one
method call per boundary. The tracing observer (spans, metrics, audit) is a
subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..embeddings.types import EmbeddingResponse
    from ..errors import NoEligibleTarget, RouterError
    from ..execution.call import Call
    from ..execution.walker import Send
    from ..types import ChatResponse, RequestContext

__all__ = ["Fanout", "Observer"]


class Observer:
    """No-op hooks; override what you need. Hooks must never raise."""

    def request_started(self, call: Call) -> None:
        """A call has been decided and is about to be executed."""

    def attempt_started(self, call: Call, step: Send) -> Any:
        """A try of one target begins; the return value is passed to ``attempt_ended``."""
        return None

    def attempt_ended(
        self,
        call: Call,
        step: Send,
        token: Any,
        *,
        response: ChatResponse | None = None,
        error: RouterError | None = None,
    ) -> None:
        """A try ended (for a stream: its first content arrived, or it failed before)."""

    def request_ended(
        self,
        call: Call,
        *,
        response: ChatResponse | EmbeddingResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """The call finished with ``response`` or failed with ``error``."""

    def request_denied(self, route: str, context: RequestContext, error: NoEligibleTarget) -> None:
        """The policy refused the request (nothing was sent; no other hook runs)."""

    def flush(self) -> None:
        """Return once what the observer wrote so far is stored (the audit log: on disk)."""

    def close(self) -> None:
        """The router is closing: flush and release background resources (never raises)."""

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        self.close()


class Fanout(Observer):
    """Several observers behind one: each hook is passed to each, in order."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)

    def request_started(self, call: Call) -> None:
        """Pass on."""
        for o in self.observers:
            o.request_started(call)

    def attempt_started(self, call: Call, step: Send) -> Any:
        """Pass on; the token is every observer's token."""
        return tuple(o.attempt_started(call, step) for o in self.observers)

    def attempt_ended(
        self,
        call: Call,
        step: Send,
        token: Any,
        *,
        response: ChatResponse | None = None,
        error: RouterError | None = None,
    ) -> None:
        """Pass on, each with its own token."""
        tokens = token if isinstance(token, tuple) else (None,) * len(self.observers)
        for o, t in zip(self.observers, tokens, strict=False):
            o.attempt_ended(call, step, t, response=response, error=error)

    def request_ended(
        self,
        call: Call,
        *,
        response: ChatResponse | EmbeddingResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Pass on."""
        for o in self.observers:
            o.request_ended(call, response=response, error=error)

    def request_denied(self, route: str, context: RequestContext, error: NoEligibleTarget) -> None:
        """Pass on."""
        for o in self.observers:
            o.request_denied(route, context, error)

    def flush(self) -> None:
        """Pass on."""
        for o in self.observers:
            o.flush()

    def close(self) -> None:
        """Pass on."""
        for o in self.observers:
            o.close()

    async def aclose(self) -> None:
        """Pass on."""
        for o in self.observers:
            await o.aclose()
