"""The observer seam: the pipeline reports request and attempt boundaries here.

The default observer does nothing, so a router with telemetry off pays one
method call per boundary. The tracing observer (spans, metrics, audit) is a
subclass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..errors import RouterError
    from ..execution.call import Call
    from ..execution.walker import Send
    from ..types import ChatResponse

__all__ = ["Observer"]


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
        response: ChatResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """The call finished with ``response`` or failed with ``error``."""
