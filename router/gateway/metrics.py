"""``/metrics``: the router's OpenTelemetry metrics, and the gateway's own, for Prometheus.

Enabled by ``gateway.metrics: true``; needs ``opentelemetry-exporter-prometheus``
(the ``gateway-metrics`` extra). A :class:`PrometheusMetricReader` feeds
prometheus_client's global registry, which the endpoint renders. With ``--workers N``
each scrape sees the worker that answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

__all__ = ["prometheus"]

Render = Callable[[], tuple[bytes, str]]
"""Returns the scrape's body and its content type."""


def prometheus() -> tuple[MeterProvider, Render]:
    """A meter provider exporting to Prometheus, and the function rendering a scrape.

    :class:`ImportError` naming the extra when the exporter is not installed.
    """
    try:
        import prometheus_client
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError as e:
        raise ImportError(
            f"gateway.metrics needs opentelemetry-exporter-prometheus ({e.name} is missing): "
            "pip install 'llm-policy-router[gateway-metrics]'"
        ) from None
    # The reader registers on prometheus_client's global registry (with the process
    # collectors); shutting the provider down unregisters it.
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    registry = prometheus_client.REGISTRY

    def render() -> tuple[bytes, str]:
        return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST

    return provider, render
