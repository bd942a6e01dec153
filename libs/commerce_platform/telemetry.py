"""OpenTelemetry tracing, set up once per process.

Spans are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (in AWS: the ADOT
sidecar, which forwards to X-Ray), or appended as JSON lines to `OTEL_TRACES_FILE` (tests and local
inspection), or to whatever `export_spans` is given. Until something exports them spans are not
recorded, but each still has its trace and span ids, so logs and propagated headers carry them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_configured = False


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per span to a file that several processes may share."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
                        "span_id": format(ctx.span_id, "016x") if ctx else None,
                        "parent_span_id": format(parent.span_id, "016x") if parent else None,
                        "kind": span.kind.name,
                        "service": span.resource.attributes.get("service.name"),
                        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                    }
                )
            )
        # One write per batch with O_APPEND keeps lines from different processes whole.
        with self._lock, open(self._path, "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


class SampleWhileExported(Sampler):
    """The SDK's default sampling (follow the parent, else record) once something exports spans;
    until then a span keeps its trace and span ids but records nothing. Recording spans nobody
    exports cost ~10% of a cart request's CPU (its outgoing call's span; cProfile, issue 5)."""

    def __init__(self) -> None:
        self.exporting = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        sampler = DEFAULT_ON if self.exporting else ALWAYS_OFF
        return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "SampleWhileExported"


_sampler = SampleWhileExported()


def export_spans(processor: SpanProcessor) -> None:
    """Send spans to `processor` from now on (and start recording them, if nothing did yet)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("configure_tracing() first")
    provider.add_span_processor(processor)
    _sampler.exporting = True


def configure_tracing(service_name: str, *, otlp_endpoint: str | None, traces_file: str | None) -> None:
    """Install the global tracer provider and W3C propagator (idempotent per process)."""
    global _configured
    if _configured:
        return
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": "commerce",
            "deployment.environment": os.environ.get("ENVIRONMENT", "local"),
        }
    )
    trace.set_tracer_provider(TracerProvider(resource=resource, sampler=_sampler))
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    _configured = True
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        export_spans(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")))
    if traces_file:
        export_spans(BatchSpanProcessor(JsonLinesSpanExporter(traces_file), schedule_delay_millis=200))


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
