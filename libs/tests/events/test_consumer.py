"""SQS consumer against the stack's Postgres and SQS: once-only effects, dead letters, traces, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.events.catalog import EventData, ProductDeleted, StockChanged
from commerce_platform.events.consumer import Handler, QueueConsumer, queue_consumer_worker
from commerce_platform.events.envelope import Envelope, decode_event, encode_envelope, new_envelope
from commerce_platform.events.outbox import record_event
from commerce_platform.events.relay import OutboxRelay

pytestmark = pytest.mark.stack


def product_deleted() -> ProductDeleted:
    return ProductDeleted(product_id=uuid4(), sku="SKU-1", revision=1, deleted_at=datetime.now(UTC))


async def remember(session: AsyncSession, envelope: Envelope, _data: EventData) -> None:
    """The handlers' business effect: one `effect` row per committed run."""
    await session.execute(text("INSERT INTO effect (event_id) VALUES (:id)"), {"id": envelope.id})


async def effects(database: Database, event_id: UUID | None = None) -> int:
    query = "SELECT count(*) FROM effect" + (" WHERE event_id = :id" if event_id else "")
    async with database.engine.connect() as conn:
        return int(await conn.scalar(text(query), {"id": event_id}) or 0)


def consumer(database: Database, aws: AwsClients, topology: Any, handlers: dict[str, Handler]) -> QueueConsumer:
    return QueueConsumer(
        database, aws, queue_url=topology.queue_url, handlers=handlers, consumer="tests", wait_time_seconds=1
    )


async def test_same_event_delivered_three_times_is_applied_once(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    envelope = new_envelope(product_deleted(), source="tests")
    for _ in range(3):
        await topology.send(encode_envelope(envelope))
    background(consumer(scratch_db, aws, topology, {"ProductDeleted": remember}).run())

    async def queue_empty() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(queue_empty)
    assert await effects(scratch_db, envelope.id) == 1
    async with scratch_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM inbox WHERE consumer = 'tests'")) == 1


async def test_malformed_message_goes_to_the_dead_letter_queue_and_the_next_is_processed(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    good = new_envelope(product_deleted(), source="tests")
    await topology.send("{definitely not an event", {"traceparent": "00-bad"})
    await topology.send(encode_envelope(good))
    background(consumer(scratch_db, aws, topology, {"ProductDeleted": remember}).run())

    async def applied() -> bool:
        return await effects(scratch_db, good.id) == 1

    await eventually(applied)
    dead = await topology.drain(topology.dead_letter_url, expect=1)
    assert [m["Body"] for m in dead] == ["{definitely not an event"]
    assert "not an event envelope" in dead[0]["MessageAttributes"]["dead_letter_reason"]["StringValue"]
    assert await topology.depth(topology.queue_url) == 0


async def test_failing_handler_is_retried_then_dead_lettered(
    scratch_db: Database, aws: AwsClients, topology_factory: Any, background: Any, eventually: Any
) -> None:
    topology = await topology_factory(max_receive_count=2, visibility_timeout=1)
    calls = 0

    async def broken(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        nonlocal calls
        calls += 1
        await remember(session, envelope, data)  # rolled back with the failure
        raise RuntimeError("downstream is down")

    envelope = new_envelope(product_deleted(), source="tests")
    await topology.send(encode_envelope(envelope))
    background(consumer(scratch_db, aws, topology, {"ProductDeleted": broken}).run())
    dead = await topology.drain(topology.dead_letter_url, expect=1, timeout=15)
    assert [decode_event(m["Body"])[0].id for m in dead] == [envelope.id]
    assert calls == 2  # delivered, redelivered, then moved by the redrive policy
    assert await effects(scratch_db) == 0
    async with scratch_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM inbox")) == 0


async def test_slow_handler_keeps_its_message_invisible(
    scratch_db: Database, aws: AwsClients, topology_factory: Any, background: Any, eventually: Any
) -> None:
    topology = await topology_factory(visibility_timeout=3)
    calls = 0

    async def slow(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(4.5)  # well past the 3 s visibility timeout
        await remember(session, envelope, data)

    envelope = new_envelope(product_deleted(), source="tests")
    await topology.send(encode_envelope(envelope))
    # Two consumers, as two replicas: without the heartbeat the second would pick the message up.
    for _ in range(2):
        background(consumer(scratch_db, aws, topology, {"ProductDeleted": slow}).run())

    async def applied() -> bool:
        return await effects(scratch_db, envelope.id) == 1

    await eventually(applied, timeout=10)
    await asyncio.sleep(0.5)
    assert calls == 1
    assert await topology.depth(topology.queue_url) == 0


async def test_event_without_a_handler_is_acknowledged(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    other = StockChanged(
        product_id=uuid4(), on_hand=1, reserved=0, available=1, revision=1, reason="set", occurred_at=datetime.now(UTC)
    )
    await topology.send(encode_envelope(new_envelope(other, source="tests")))
    background(consumer(scratch_db, aws, topology, {"ProductDeleted": remember}).run())

    async def gone() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(gone)
    assert await topology.depth(topology.dead_letter_url) == 0
    assert await effects(scratch_db) == 0


async def test_consumer_span_continues_the_writers_trace(
    scratch_db: Database,
    aws: AwsClients,
    topology: Any,
    background: Any,
    eventually: Any,
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("PUT /v1/products/x") as writer:
        async with AsyncSession(scratch_db.engine) as session, session.begin():
            envelope = await record_event(session, product_deleted(), source="product")
    background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for).run())
    background(consumer(scratch_db, aws, topology, {"ProductDeleted": remember}).run())

    def finished(kind: SpanKind) -> list[Any]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.kind == kind and s.attributes and s.attributes.get("messaging.message.id") == str(envelope.id)
        ]

    async def consumed() -> bool:
        return bool(finished(SpanKind.CONSUMER))

    await eventually(consumed)
    [producer] = finished(SpanKind.PRODUCER)
    [consumer_span] = finished(SpanKind.CONSUMER)
    trace_id = writer.get_span_context().trace_id
    assert producer.context.trace_id == trace_id
    assert producer.parent is not None and producer.parent.span_id == writer.get_span_context().span_id
    assert consumer_span.context.trace_id == trace_id
    assert consumer_span.parent is not None and consumer_span.parent.span_id == producer.context.span_id
    assert await effects(scratch_db, envelope.id) == 1


async def test_shutdown_does_not_wait_for_the_long_poll(scratch_db: Database, aws: AwsClients, topology: Any) -> None:
    long_polling = QueueConsumer(
        scratch_db, aws, queue_url=topology.queue_url, handlers={}, consumer="tests", wait_time_seconds=20
    )
    task = asyncio.create_task(long_polling.run())
    await asyncio.sleep(1.0)  # inside receive_message by now
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0


def test_handlers_for_unknown_event_types_fail_at_start() -> None:
    handlers: dict[str, Callable[..., Any]] = {"ProductDeletd": remember}
    with pytest.raises(ValueError, match="ProductDeletd"):
        queue_consumer_worker("search-products", handlers)
