"""SQS consumer against the stack's Postgres and SQS: once-only effects, dead letters, traces, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
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


async def remember(conn: asyncpg.Connection, envelope: Envelope, _data: EventData) -> None:
    """The handlers' business effect: one `effect` row per committed run."""
    await conn.execute("INSERT INTO effect (event_id) VALUES ($1)", envelope.id)


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

    async def broken(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        nonlocal calls
        calls += 1
        await remember(conn, envelope, data)  # rolled back with the failure
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

    async def slow(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(4.5)  # well past the 3 s visibility timeout
        await remember(conn, envelope, data)

    envelope = new_envelope(product_deleted(), source="tests")
    await topology.send(encode_envelope(envelope))
    # Two consumers, as two replicas: without the heartbeat the second would pick the message up.
    for _ in range(2):
        background(consumer(scratch_db, aws, topology, {"ProductDeleted": slow}).run())

    async def applied() -> bool:
        return await effects(scratch_db, envelope.id) == 1

    async def deleted() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(applied, timeout=10)
    await eventually(deleted, timeout=5)  # deletes go out in batches, up to a second after commit
    assert calls == 1


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


# -- batched deletes ---------------------------------------------------------------------------
class DeleteSpy:
    """Intercepts the consumer's receives and batch deletes: which event each receipt belongs to,
    and which receipts were deleted, batch by batch. `sabotage(receipt, entries)` may alter a batch."""

    def __init__(self) -> None:
        self.event_of: dict[str, UUID] = {}
        self.received: list[UUID] = []
        self.batches: list[list[UUID]] = []
        self.single_deletes = 0

    async def receive_message(self, sqs: Any, **request: Any) -> Any:
        response = await sqs.receive_message(**request)
        for message in response.get("Messages", []):
            event_id = decode_event(message["Body"])[0].id
            self.event_of[message["ReceiptHandle"]] = event_id
            self.received.append(event_id)
        return response

    async def delete_message_batch(self, sqs: Any, **request: Any) -> Any:
        self.batches.append([self.event_of[entry["ReceiptHandle"]] for entry in request["Entries"]])
        return await self.sabotage(sqs, request)

    async def sabotage(self, sqs: Any, request: dict[str, Any]) -> Any:
        return await sqs.delete_message_batch(**request)

    async def delete_message(self, sqs: Any, **request: Any) -> Any:
        self.single_deletes += 1
        return await sqs.delete_message(**request)

    def intercepts(self) -> dict[str, Any]:
        return {
            "receive_message": self.receive_message,
            "delete_message_batch": self.delete_message_batch,
            "delete_message": self.delete_message,
        }

    @property
    def deleted(self) -> list[UUID]:
        return [event_id for batch in self.batches for event_id in batch]


async def test_batch_delete_removes_only_messages_whose_transaction_committed(
    scratch_db: Database, intercepting_aws: Any, topology_factory: Any, background: Any, eventually: Any
) -> None:
    # Failing messages come back after 1 s; moved to the dead-letter queue after 2 receives.
    topology = await topology_factory(max_receive_count=2, visibility_timeout=5)
    envelopes = [new_envelope(product_deleted(), source="tests") for _ in range(10)]
    failing = {envelope.id for envelope in envelopes[::3]}

    async def sometimes_broken(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        await remember(conn, envelope, data)
        if envelope.id in failing:
            raise RuntimeError("this one rolls back")

    async with topology.aws.client("sqs") as sqs:
        await sqs.send_message_batch(
            QueueUrl=topology.queue_url,
            Entries=[{"Id": str(n), "MessageBody": encode_envelope(e).decode()} for n, e in enumerate(envelopes)],
        )
    spy = DeleteSpy()
    background(
        consumer(scratch_db, intercepting_aws(**spy.intercepts()), topology, {"ProductDeleted": sometimes_broken}).run()
    )

    async def failures_dead_lettered() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(failures_dead_lettered, timeout=15)
    committed = {envelope.id for envelope in envelopes} - failing
    assert sorted(spy.deleted) == sorted(committed)  # each committed one once, no failed one ever
    assert spy.single_deletes == 0
    assert len(spy.batches) < len(committed)  # batched: the first receive handled several at once
    assert await effects(scratch_db) == len(committed)
    dead = await topology.drain(topology.dead_letter_url, expect=len(failing))
    assert {decode_event(m["Body"])[0].id for m in dead} == failing


async def test_a_refused_batch_entry_is_redelivered_and_skipped_by_the_inbox(
    scratch_db: Database, intercepting_aws: Any, topology_factory: Any, background: Any, eventually: Any
) -> None:
    topology = await topology_factory(visibility_timeout=1)
    envelopes = [new_envelope(product_deleted(), source="tests") for _ in range(3)]
    for envelope in envelopes:
        await topology.send(encode_envelope(envelope))
    spy = DeleteSpy()
    refused: list[UUID] = []

    async def refuse_one(sqs: Any, request: dict[str, Any]) -> Any:
        # The first entry of the first batch gets a receipt SQS does not know: it lands in `Failed`.
        if not refused:
            first = request["Entries"][0]
            refused.append(spy.event_of[first["ReceiptHandle"]])
            request["Entries"][0] = {**first, "ReceiptHandle": "not-a-receipt-handle"}
        response = await sqs.delete_message_batch(**request)
        if len(spy.batches) == 1:
            assert [failure["Id"] for failure in response["Failed"]] == [request["Entries"][0]["Id"]]
        return response

    spy.sabotage = refuse_one  # type: ignore[method-assign]
    calls: list[UUID] = []

    async def counting(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        calls.append(envelope.id)
        await remember(conn, envelope, data)

    background(consumer(scratch_db, intercepting_aws(**spy.intercepts()), topology, {"ProductDeleted": counting}).run())

    async def queue_empty() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(queue_empty, timeout=15)
    [victim] = refused
    assert spy.received.count(victim) == 2  # came back after its visibility timeout ...
    assert sorted(calls) == sorted(e.id for e in envelopes)  # ... and the inbox skipped it
    assert await effects(scratch_db) == 3
    assert spy.deleted.count(victim) == 2
    assert await topology.depth(topology.dead_letter_url) == 0


async def test_a_batch_entry_failing_on_the_server_side_is_deleted_on_retry(
    scratch_db: Database, intercepting_aws: Any, topology_factory: Any, background: Any, eventually: Any
) -> None:
    # A long visibility timeout: the message can only leave the queue by the consumer's retry.
    topology = await topology_factory(visibility_timeout=60)
    envelope = new_envelope(product_deleted(), source="tests")
    await topology.send(encode_envelope(envelope))
    spy = DeleteSpy()

    async def fail_first_time(sqs: Any, request: dict[str, Any]) -> Any:
        if len(spy.batches) == 1:
            return {
                "Successful": [],
                "Failed": [
                    {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
                    for entry in request["Entries"]
                ],
            }
        return await sqs.delete_message_batch(**request)

    spy.sabotage = fail_first_time  # type: ignore[method-assign]
    background(consumer(scratch_db, intercepting_aws(**spy.intercepts()), topology, {"ProductDeleted": remember}).run())

    async def queue_empty() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(queue_empty, timeout=5)
    assert spy.batches == [[envelope.id], [envelope.id]]
    assert spy.received == [envelope.id]
    assert await effects(scratch_db) == 1


async def test_shutdown_sends_the_pending_deletes(
    scratch_db: Database, aws: AwsClients, topology_factory: Any, eventually: Any
) -> None:
    topology = await topology_factory(visibility_timeout=60)
    envelopes = [new_envelope(product_deleted(), source="tests") for _ in range(3)]
    for envelope in envelopes:
        await topology.send(encode_envelope(envelope))
    # Deletes would wait a minute for company; cancelling the consumer must not leave them behind.
    lingering = QueueConsumer(
        scratch_db,
        aws,
        queue_url=topology.queue_url,
        handlers={"ProductDeleted": remember},
        consumer="tests",
        wait_time_seconds=1,
        delete_delay_seconds=60,
    )
    task = asyncio.create_task(lingering.run())

    async def applied() -> bool:
        return await effects(scratch_db) == 3

    await eventually(applied)
    assert await topology.depth(topology.queue_url) == 3  # handled, not deleted yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await topology.depth(topology.queue_url) == 0
