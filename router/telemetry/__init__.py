"""Spans, metrics and audit records.

:func:`observer_for` builds the pipeline's observer from a config: tracing
and metrics through the OpenTelemetry API when ``telemetry.enabled``, an
audit log when ``telemetry.audit_log`` is set, nothing (a no-op) otherwise.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .observer import Fanout, Observer

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from ..config.schema import Config
    from ..embeddings.types import EmbeddingResponse
    from ..errors import NoEligibleTarget, RouterError
    from ..execution.call import Call
    from ..execution.walker import Send
    from ..types import ChatResponse, RequestContext

__all__ = ["DeferredObserver", "Fanout", "Observer", "observer_for", "otel_in_use"]


def observer_for(
    config: Config,
    secrets: Iterable[str] = (),
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Observer:
    """The observer ``config.telemetry`` asks for; ``secrets`` are always redacted.

    The providers default to OpenTelemetry's global ones.
    """
    observers: list[Observer] = []
    tel = config.telemetry
    if tel.enabled:
        secrets = tuple(secrets)

        def tracing() -> Observer:
            from .tracing import TracingObserver

            return TracingObserver(
                config,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                secrets=secrets,
            )

        explicit = tracer_provider is not None or meter_provider is not None
        observers.append(tracing() if explicit or otel_in_use() else DeferredObserver(tracing))
    if tel.audit_log:
        from .auditing import AuditObserver

        observers.append(AuditObserver(config, tel.audit_log))
    if not observers:
        return Observer()
    return observers[0] if len(observers) == 1 else Fanout(observers)


_OTEL_API = ("opentelemetry.trace", "opentelemetry.metrics")
_OTEL_ENV = ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")

# Asked before every request of a router whose tracing waits for OpenTelemetry:
# a miss in ``os.environ`` raises and catches a KeyError inside the mapping
# (about a microsecond each), while its backing dict answers in tens of
# nanoseconds. Every write through ``os.environ`` lands in that dict, so the
# answer is the same; a replaced ``os.environ`` (a test's stand-in) is asked itself.
_ENVIRON = os.environ
_ENV_DATA: Any = getattr(os.environ, "_data", None)
_OTEL_ENV_KEYS = tuple(os.environ.encodekey(v) for v in _OTEL_ENV)


def _otel_env_set() -> bool:
    env = os.environ
    if env is _ENVIRON and type(_ENV_DATA) is dict:
        return _OTEL_ENV_KEYS[0] in _ENV_DATA or _OTEL_ENV_KEYS[1] in _ENV_DATA
    return any(v in env for v in _OTEL_ENV)


def otel_in_use() -> bool:
    """Whether a tracer or meter provider may be installed in this process.

    Installing one takes OpenTelemetry's API (or an environment variable
    naming a provider); until either is there, nothing could record. Both
    are looked at on every call: either may appear at any time.
    """
    modules = sys.modules
    return _OTEL_API[0] in modules or _OTEL_API[1] in modules or _otel_env_set()


class DeferredObserver(Observer):
    """Stands in for an observer that needs OpenTelemetry until it is in use.

    A process that never touches OpenTelemetry does not load it (nor the
    tracing module) at all; the real observer is built at the first request
    after something has imported OpenTelemetry's API. A call already under
    way when that happens is not traced (its hooks find no state).
    """

    def __init__(self, build: Callable[[], Observer]) -> None:
        self._build = build
        self._real: Observer | None = None
        self._lock = threading.Lock()

    def _activate(self) -> Observer | None:
        if self._real is None and otel_in_use():
            with self._lock:
                if self._real is None:
                    self._real = self._build()
        return self._real

    def request_started(self, call: Call) -> None:
        """Pass on (building the real observer once OpenTelemetry is in use)."""
        real = self._activate()
        if real is not None:
            real.request_started(call)

    def attempt_started(self, call: Call, step: Send) -> Any:
        """Pass on."""
        real = self._real
        return real.attempt_started(call, step) if real is not None else None

    def attempt_ended(
        self,
        call: Call,
        step: Send,
        token: Any,
        *,
        response: ChatResponse | None = None,
        error: RouterError | None = None,
    ) -> None:
        """Pass on."""
        real = self._real
        if real is not None:
            real.attempt_ended(call, step, token, response=response, error=error)

    def request_ended(
        self,
        call: Call,
        *,
        response: ChatResponse | EmbeddingResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Pass on."""
        real = self._real
        if real is not None:
            real.request_ended(call, response=response, error=error)

    def request_denied(self, route: str, context: RequestContext, error: NoEligibleTarget) -> None:
        """Pass on (building the real observer once OpenTelemetry is in use)."""
        real = self._activate()
        if real is not None:
            real.request_denied(route, context, error)
