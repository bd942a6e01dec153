"""Outbox and relay against the stack's Postgres and SNS/SQS: no event lost, none sent twice at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.events.catalog import ProductDeleted
from commerce_platform.events.envelope import decode_event
from commerce_platform.events.inbox import InboxRecord
from commerce_platform.events.outbox import OutboxMessage, record_event, record_event_on
from commerce_platform.events.relay import OutboxRelay

pytestmark = pytest.mark.stack


def product_deleted(revision: int = 1) -> ProductDeleted:
    return ProductDeleted(product_id=uuid4(), sku=f"SKU-{revision}", revision=revision, deleted_at=datetime.now(UTC))


async def record(database: Database, count: int) -> list[UUID]:
    """Commit `count` events the way a service does: in its own business transaction."""
    async with AsyncSession(database.engine) as session, session.begin():
        envelopes = [await record_event(session, product_deleted(i), source="tests") for i in range(count)]
    return [envelope.id for envelope in envelopes]


async def pending(database: Database) -> int:
    async with database.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    return int(count or 0)


def event_ids(messages: list[dict[str, Any]]) -> Counter[UUID]:
    return Counter(decode_event(message["Body"])[0].id for message in messages)


class StallingSns:
    """Stands in for the SNS client only to freeze the relay inside its publish (a process that hangs
    or dies there); `publish_first` lets the real publish happen before it freezes."""

    def __init__(self, real: Any, *, publish_first: bool = False) -> None:
        self.real = real
        self.publish_first = publish_first
        self.entered = asyncio.Event()

    async def publish_batch(self, **request: Any) -> Any:
        if self.publish_first:
            await self.real.publish_batch(**request)
        self.entered.set()
        await asyncio.Event().wait()


# -- record_event ------------------------------------------------------------------------------
async def test_event_commits_with_the_business_change(scratch_db: Database) -> None:
    data = product_deleted()
    async with AsyncSession(scratch_db.engine) as session, session.begin():
        await session.execute(text("INSERT INTO effect (event_id, note) VALUES (gen_random_uuid(), 'change')"))
        envelope = await record_event(session, data, source="product")
    async with AsyncSession(scratch_db.engine) as session:
        row = await session.get_one(OutboxMessage, envelope.id)
    assert row.topic == "product-events"
    assert row.event_type == "ProductDeleted"
    assert row.sent_at is None
    assert row.attempts == 0
    stored_envelope, stored_data = decode_event(row.payload)
    assert stored_envelope == envelope
    assert stored_data == data
    assert stored_envelope.source == "product"


async def test_event_rolls_back_with_the_business_change(scratch_db: Database) -> None:
    async def change_that_fails() -> None:
        async with AsyncSession(scratch_db.engine) as session, session.begin():
            await session.execute(text("INSERT INTO effect (event_id) VALUES (gen_random_uuid())"))
            await record_event(session, product_deleted(), source="product")
            raise RuntimeError("business rule broken")

    with pytest.raises(RuntimeError, match="business rule"):
        await change_that_fails()
    async with scratch_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM outbox")) == 0
        assert await conn.scalar(text("SELECT count(*) FROM effect")) == 0


async def test_event_on_a_plain_asyncpg_connection_commits_or_rolls_back_with_the_change(
    scratch_db: Database,
) -> None:
    pool = await scratch_db.read_pool()
    data = product_deleted()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO effect (event_id, note) VALUES (gen_random_uuid(), 'change')")
        envelope = await record_event_on(conn, data, source="order")

    async def change_that_fails() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO effect (event_id) VALUES (gen_random_uuid())")
            await record_event_on(conn, product_deleted(2), source="order")
            raise RuntimeError("business rule broken")

    with pytest.raises(RuntimeError, match="business rule"):
        await change_that_fails()
    async with AsyncSession(scratch_db.engine) as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert [row.id for row in rows] == [envelope.id]
    assert (rows[0].topic, rows[0].event_type, rows[0].sent_at) == ("product-events", "ProductDeleted", None)
    assert decode_event(rows[0].payload) == (envelope, data)


async def test_migration_tables_match_the_models(scratch_db: Database) -> None:
    metadata = MetaData()
    OutboxMessage.__table__.to_metadata(metadata)
    InboxRecord.__table__.to_metadata(metadata)

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": lambda name, kind, _parent: kind != "table" or name in ("outbox", "inbox")},
        )
        return list(compare_metadata(context, metadata))

    async with scratch_db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


# -- relay -------------------------------------------------------------------------------------
async def test_rows_committed_while_no_relay_ran_are_delivered_once_it_runs(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any
) -> None:
    # The process died after commit and before any publish: rows are all that is left.
    ids = await record(scratch_db, 3)
    background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for).run())
    messages = await topology.drain(topology.queue_url, expect=3)
    assert event_ids(messages) == Counter(ids)
    assert {m["MessageAttributes"]["event_type"]["StringValue"] for m in messages} == {"ProductDeleted"}
    async with scratch_db.engine.connect() as conn:
        rows = (await conn.execute(select(OutboxMessage.sent_at, OutboxMessage.attempts))).all()
    assert all(sent_at is not None and attempts == 1 for sent_at, attempts in rows)


async def test_relay_killed_mid_batch_leaves_rows_for_the_next_relay(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any
) -> None:
    ids = await record(scratch_db, 5)
    relay = OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for)
    async with aws.client("sns") as sns:
        stalled = StallingSns(sns)
        dying = asyncio.create_task(relay.relay_batch(stalled))
        await asyncio.wait_for(stalled.entered.wait(), 5)
        # While the first relay holds the rows, a second one skips them instead of sending them too.
        assert await OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for).relay_batch(sns) == 0
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
    assert await pending(scratch_db) == 5
    background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for).run())
    messages = await topology.drain(topology.queue_url, expect=5)
    assert event_ids(messages) == Counter(ids)
    assert await pending(scratch_db) == 0


async def test_relay_dying_after_publish_resends_rather_than_loses(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any
) -> None:
    # At-least-once: published but not marked sent -> sent again; consumers' inbox absorbs the copy.
    ids = await record(scratch_db, 2)
    relay = OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for)
    async with aws.client("sns") as sns:
        stalled = StallingSns(sns, publish_first=True)
        dying = asyncio.create_task(relay.relay_batch(stalled))
        await asyncio.wait_for(stalled.entered.wait(), 5)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
    background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for).run())
    messages = await topology.drain(topology.queue_url, expect=4)
    assert event_ids(messages) == Counter(ids * 2)


async def test_two_relays_publish_each_row_exactly_once(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    ids = await record(scratch_db, 60)
    for _ in range(2):
        background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for, batch_size=5).run())

    async def all_sent() -> bool:
        return await pending(scratch_db) == 0

    await eventually(all_sent, timeout=15)
    messages = await topology.drain(topology.queue_url, expect=60, timeout=15)
    assert event_ids(messages) == Counter(ids)


async def test_relay_wakes_on_commit_without_waiting_for_its_poll(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    relay = OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for, poll_interval_seconds=60)
    background(relay.run())
    await asyncio.sleep(0.5)  # let it LISTEN and go to sleep on an empty outbox
    lags = []
    for _ in range(3):
        started = time.monotonic()
        await record(scratch_db, 1)

        async def sent() -> bool:
            return await pending(scratch_db) == 0

        await eventually(sent, timeout=5, interval=0.01)
        lags.append(time.monotonic() - started)
    assert max(lags) < 1.0, lags


async def test_publish_failure_backs_off_and_is_retried(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    [event_id] = await record(scratch_db, 1)
    broken = OutboxRelay(scratch_db, aws, topic_arn=lambda _topic: topology.topic_arn + "-missing")
    async with aws.client("sns") as sns:
        assert await broken.relay_batch(sns) == 1
    async with AsyncSession(scratch_db.engine) as session:
        row = await session.get_one(OutboxMessage, event_id)
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.last_error
    # First retry one base backoff (1 s) after the failure, which came after the row was written.
    assert row.available_at - row.created_at >= timedelta(seconds=1)

    background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for, poll_interval_seconds=0.2).run())
    messages = await topology.drain(topology.queue_url, expect=1)
    assert event_ids(messages) == Counter([event_id])
    async with AsyncSession(scratch_db.engine) as session:
        row = await session.get_one(OutboxMessage, event_id)
    assert row.sent_at is not None
    assert row.attempts == 2
    assert row.last_error is None


async def test_prune_removes_only_old_sent_rows(scratch_db: Database, aws: AwsClients) -> None:
    old, recent, unsent = await record(scratch_db, 3)
    async with scratch_db.engine.begin() as conn:
        await conn.execute(text("UPDATE outbox SET sent_at = now() - interval '8 days' WHERE id = :id"), {"id": old})
        await conn.execute(text("UPDATE outbox SET sent_at = now() WHERE id = :id"), {"id": recent})
    relay = OutboxRelay(scratch_db, aws, topic_arn=str, retention=timedelta(days=7))
    assert await relay.prune() == 1
    async with scratch_db.engine.connect() as conn:
        left = set((await conn.execute(select(OutboxMessage.id))).scalars())
    assert left == {recent, unsent}


async def test_a_failed_entry_of_a_publish_batch_is_retried_and_not_marked_sent(
    scratch_db: Database, aws: AwsClients, intercepting_aws: Any, topology: Any, background: Any, eventually: Any
) -> None:
    ids = await record(scratch_db, 4)
    unlucky = ids[1]

    async def one_entry_fails(sns: Any, **request: Any) -> Any:
        # SNS accepts the batch but reports one entry as failed (and does not deliver it).
        entries = request["PublishBatchRequestEntries"]
        [failing] = [e for e in entries if decode_event(e["Message"])[0].id == unlucky]
        request["PublishBatchRequestEntries"] = [e for e in entries if e is not failing]
        response = await sns.publish_batch(**request)
        response["Failed"] = [
            *response.get("Failed", []),
            {"Id": failing["Id"], "Code": "InternalError", "Message": "try again", "SenderFault": False},
        ]
        return response

    flaky = intercepting_aws(publish_batch=one_entry_fails)
    async with flaky.client("sns") as sns:
        assert await OutboxRelay(scratch_db, flaky, topic_arn=topology.topic_arn_for).relay_batch(sns) == 4
    async with AsyncSession(scratch_db.engine) as session:
        rows = {row.id: row for row in (await session.execute(select(OutboxMessage))).scalars()}
    assert rows[unlucky].sent_at is None
    assert rows[unlucky].attempts == 1
    assert rows[unlucky].last_error == "InternalError: try again"
    assert rows[unlucky].available_at - rows[unlucky].created_at >= timedelta(seconds=1)
    assert all(rows[i].sent_at is not None and rows[i].last_error is None for i in ids if i != unlucky)

    # The next relay takes it up once its backoff has passed; the others are not sent again.
    background(OutboxRelay(scratch_db, aws, topic_arn=topology.topic_arn_for, poll_interval_seconds=0.2).run())

    async def all_sent() -> bool:
        return await pending(scratch_db) == 0

    await eventually(all_sent, timeout=10)
    messages = await topology.drain(topology.queue_url, expect=4)
    assert event_ids(messages) == Counter(ids)
    async with AsyncSession(scratch_db.engine) as session:
        row = await session.get_one(OutboxMessage, unlucky)
    assert row.attempts == 2
    assert row.last_error is None


async def test_twenty_five_rows_go_out_in_three_publish_calls_completely_and_once(
    scratch_db: Database,
    intercepting_aws: Any,
    topology: Any,
    spans: InMemorySpanExporter,
) -> None:
    writer_trace = trace.get_tracer("tests").start_span("POST /v1/things")
    with trace.use_span(writer_trace, end_on_exit=True):
        ids = await record(scratch_db, 25)
    calls: list[list[dict[str, Any]]] = []

    async def spy(sns: Any, **request: Any) -> Any:
        calls.append(request["PublishBatchRequestEntries"])
        return await sns.publish_batch(**request)

    counted = intercepting_aws(publish_batch=spy)
    relay = OutboxRelay(scratch_db, counted, topic_arn=topology.topic_arn_for)
    async with counted.client("sns") as sns:
        assert await relay.relay_batch(sns) == 25
        assert await relay.relay_batch(sns) == 0
    assert sorted(len(entries) for entries in calls) == [5, 10, 10]
    assert await pending(scratch_db) == 0

    messages = await topology.drain(topology.queue_url, expect=25)
    assert event_ids(messages) == Counter(ids)
    # Each entry carries its own attributes: the event type and the traceparent of its own PRODUCER
    # span, in the writer's trace.
    trace_id = f"{writer_trace.get_span_context().trace_id:032x}"
    parents = set()
    for message in messages:
        attributes = message["MessageAttributes"]
        assert attributes["event_type"]["StringValue"] == "ProductDeleted"
        _version, message_trace, parent_span, _flags = attributes["traceparent"]["StringValue"].split("-")
        assert message_trace == trace_id
        parents.add(parent_span)
    assert len(parents) == 25


class FailingFirstClients:
    """The stack's AWS endpoint, except that the first `failures` clients cannot be had (expired
    credentials, an unreachable metadata endpoint)."""

    def __init__(self, real: AwsClients, failures: int) -> None:
        self.real = real
        self.failures = failures

    def client(self, service_name: str, **options: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("cannot get credentials")
        return self.real.client(service_name, **options)


class RecordingLog:
    """A stand-in logger that keeps the `consecutive_failures` of client failures."""

    def __init__(self) -> None:
        self.client_failures: list[int | None] = []

    def bind(self, **_fields: Any) -> RecordingLog:
        return self

    def exception(self, event: str, **fields: Any) -> None:
        if "SNS client failed" in event:
            self.client_failures.append(fields.get("consecutive_failures"))

    def info(self, *_args: Any, **_fields: Any) -> None:
        pass

    debug = warning = error = info


async def test_relay_counts_client_failures_afresh_after_relaying(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    [event_id] = await record(scratch_db, 1)
    relay = OutboxRelay(scratch_db, FailingFirstClients(aws, failures=1), topic_arn=topology.topic_arn_for)  # type: ignore[arg-type]
    log = RecordingLog()
    relay._log = log
    relay_forever = relay._relay_forever

    async def fails_after_relaying(sns: Any, wake: asyncio.Event) -> None:
        # Relays for a while, then the client breaks: a fresh failure, not the second in a row.
        await asyncio.wait_for(relay_forever(sns, wake), 1.5)

    relay._relay_forever = fails_after_relaying  # type: ignore[method-assign]
    background(relay.run())
    messages = await topology.drain(topology.queue_url, expect=1)
    assert event_ids(messages) == Counter([event_id])

    async def failed_again() -> bool:
        return len(log.client_failures) >= 2

    await eventually(failed_again, timeout=10)
    assert log.client_failures[:2] == [1, 1]
