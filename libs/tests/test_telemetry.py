"""Spans are recorded only while something exports them; their ids exist either way."""

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from commerce_platform.telemetry import SampleWhileExported


def test_spans_keep_their_ids_but_are_recorded_only_while_exported() -> None:
    sampler = SampleWhileExported()
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("unexported") as quiet:
        # Logs and propagated headers still get ids, and a child follows its parent.
        assert quiet.get_span_context().is_valid and not quiet.is_recording()
        with tracer.start_as_current_span("child") as child:
            assert child.get_span_context().trace_id == quiet.get_span_context().trace_id
            assert not child.is_recording()
    assert exporter.get_finished_spans() == ()

    sampler.exporting = True
    with tracer.start_as_current_span("exported") as loud:
        assert loud.is_recording() and loud.get_span_context().trace_flags.sampled
    assert [span.name for span in exporter.get_finished_spans()] == ["exported"]
