"""W3C traceparent in and out of message attributes, so one trace spans writer, relay and consumer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
# Whatever the process-wide propagator is, the message attribute is W3C trace context by contract.
_propagator = TraceContextTextMapPropagator()

tracer = trace.get_tracer("commerce_platform.events")


def current_traceparent(context: Context | None = None) -> str | None:
    """The traceparent of the active span (or of `context`), None when there is no valid span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=context)
    return carrier.get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None) -> Context:
    """A context whose remote parent is `traceparent`; an empty context (a new trace) without one."""
    if not traceparent:
        return Context()
    return _propagator.extract({TRACEPARENT: traceparent}, context=Context())


def traceparent_attribute(message_attributes: Mapping[str, Any]) -> str | None:
    """The traceparent from SQS `MessageAttributes` (raw SNS delivery keeps them as is)."""
    attribute = message_attributes.get(TRACEPARENT)
    if isinstance(attribute, Mapping):
        value = attribute.get("StringValue")
        return value if isinstance(value, str) else None
    return None
