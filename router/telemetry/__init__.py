"""Spans, metrics and audit records.

:func:`observer_for` builds the pipeline's observer from a config: tracing
and metrics through the OpenTelemetry API when ``telemetry.enabled``, an
audit log when ``telemetry.audit_log`` is set, nothing (a no-op) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .observer import Fanout, Observer

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from ..config.schema import Config

__all__ = ["Fanout", "Observer", "observer_for"]


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
        from .tracing import TracingObserver

        observers.append(
            TracingObserver(
                config,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                secrets=secrets,
            )
        )
    if tel.audit_log:
        from .auditing import AuditObserver

        observers.append(AuditObserver(config, tel.audit_log))
    if not observers:
        return Observer()
    return observers[0] if len(observers) == 1 else Fanout(observers)
