"""Send the router's spans and metrics over OTLP/HTTP to a collector on 127.0.0.1.

Run a collector (or Jaeger, Grafana Tempo/Alloy, …) listening for OTLP/HTTP
on ``127.0.0.1:4318``, then: ``python examples/tracing_otlp.py``.

Needs the optional exporter package, which the router does not depend on:
``pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http``.
The endpoint is fixed to 127.0.0.1 on purpose: the example never sends
telemetry off the machine. Content capture stays off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Only the port is configurable: the host stays the loopback address.
ENDPOINT = f"http://127.0.0.1:{int(os.environ.get('OTLP_PORT', '4318'))}"

try:
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ImportError as e:
    sys.exit(
        f"this example needs the OTLP exporter ({e.name} is missing):\n"
        "  pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"
    )

from _local_openai import config, serve  # noqa: E402

from router import Router  # noqa: E402


def main() -> None:
    resource = Resource.create({"service.name": "tracing-otlp-example"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{ENDPOINT}/v1/traces")))
    trace.set_tracer_provider(tp)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{ENDPOINT}/v1/metrics"), export_interval_millis=5_000
    )
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    metrics.set_meter_provider(mp)

    server, base = serve()
    try:
        with Router(config(base)) as router:
            for i in range(3):
                resp = router.chat([{"role": "user", "content": f"Hello #{i}"}])
                print(f"{resp.route.target}: {resp.content}  (decision {resp.route.decision_id})")
    finally:
        server.shutdown()
        tp.shutdown()  # flushes the batch
        mp.shutdown()
    print(f"spans and metrics sent to {ENDPOINT} (if a collector was listening)")


if __name__ == "__main__":
    main()
