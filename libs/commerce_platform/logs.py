"""structlog JSON logs, one configuration for every service, carrying request and trace ids."""

from __future__ import annotations

import logging
import sys
from typing import Any

import msgspec
import structlog
from structlog.types import EventDict, WrappedLogger

from commerce_platform.telemetry import current_trace_id


def _add_trace_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    trace_id = current_trace_id()
    if trace_id:
        event["trace_id"] = trace_id
    return event


_encoder = msgspec.json.Encoder(enc_hook=str)


def _to_json(event: EventDict, **_: Any) -> str:
    # msgspec renders a log line several times faster than the json module (one per request).
    return _encoder.encode(event).decode()


def configure_logging(service_name: str, *, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one JSON (or console) renderer."""
    def add_service(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service_name)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_id,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_to_json)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library; send those lines through the same renderer.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log duplicates ours; keep its errors.
    logging.getLogger("uvicorn.access").disabled = True
