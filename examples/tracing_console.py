"""Print the router's spans and metrics to the console.

Run: ``python examples/tracing_console.py`` (needs ``opentelemetry-sdk``,
installed with ``pip install 'llm-policy-router[otel]'``).

The router itself only uses the OpenTelemetry API; the application installs
an SDK with exporters, as here. A tiny OpenAI-compatible server on 127.0.0.1
plays two targets: the first answers 503, so the output shows a fallback
event, two ``chat …`` CLIENT spans under one ``route default`` span, token
and duration histograms and the ``router.*`` counters.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
except ImportError:
    sys.exit("this example needs the OpenTelemetry SDK: pip install 'llm-policy-router[otel]'")

from _local_openai import config, serve

from router import Router


def main() -> None:
    resource = Resource.create({"service.name": "tracing-console-example"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tp)
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    metrics.set_meter_provider(mp)

    server, base = serve()
    try:
        with Router(config(base)) as router:
            resp = router.chat([{"role": "user", "content": "Say hello"}], max_tokens=32)
            print(f"# answer: {resp.content!r} via {resp.route.target}", file=sys.stderr)
            with router.stream([{"role": "user", "content": "Stream hello"}]) as s:
                text = "".join(c.delta_text for c in s)
            print(f"# streamed: {text!r}", file=sys.stderr)
    finally:
        server.shutdown()
        tp.shutdown()
        mp.shutdown()  # flushes the metrics to the console


if __name__ == "__main__":
    main()
