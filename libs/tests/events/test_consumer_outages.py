"""The queue consumer against the stack's Postgres (behind a proxy that fails) and SQS: an outage of
the database or of a called service pauses it and dead-letters nothing; a hanging handler does not
hold its message for good; events of types it has no handler for are acknowledged."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import text

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.errors import DependencyUnavailable
from commerce_platform.events.catalog import EventData, ProductDeleted
from commerce_platform.events.consumer import QueueConsumer
from commerce_platform.events.envelope import Envelope, decode_event, encode_envelope, new_envelope

pytestmark = pytest.mark.stack


def product_deleted() -> ProductDeleted:
    return ProductDeleted(product_id=uuid4(), sku="SKU-1", revision=1, deleted_at=datetime.now(UTC))


async def remember(conn: asyncpg.Connection, envelope: Envelope, _data: EventData) -> None:
    await conn.execute("INSERT INTO effect (event_id) VALUES ($1)", envelope.id)


async def effects(database: Database) -> list[str]:
    async with database.engine.connect() as conn:
        return sorted(str(row) for row in (await conn.scalars(text("SELECT event_id FROM effect"))).all())


class ReceiveSpy:
    """Counts what the consumer receives, and what it received while `outage` was set."""

    def __init__(self) -> None:
        self.outage = False
        self.received = 0
        self.received_in_outage = 0
        self.asked_in_outage: list[int] = []

    async def receive_message(self, sqs: Any, **request: Any) -> Any:
        response = await sqs.receive_message(**request)
        count = len(response.get("Messages", []))
        self.received += count
        if self.outage:
            self.received_in_outage += count
            self.asked_in_outage.append(request["MaxNumberOfMessages"])
        return response


def outage_consumer(database: Database, aws: Any, topology: Any, handlers: dict[str, Any]) -> QueueConsumer:
    return QueueConsumer(
        database,
        aws,
        queue_url=topology.queue_url,
        handlers=handlers,
        consumer="tests",
        wait_time_seconds=1,
        # Counted as the messages' own failures, an outage would dead-letter them within a second or two.
        retry_base_seconds=0.1,
        outage_first_pause_seconds=0.5,
        outage_max_pause_seconds=1.0,
    )


async def send_all(topology: Any, count: int) -> list[Envelope]:
    envelopes = [new_envelope(product_deleted(), source="tests") for _ in range(count)]
    for envelope in envelopes:
        await topology.send(encode_envelope(envelope))
    return envelopes


async def test_a_database_outage_pauses_receiving_and_dead_letters_nothing(
    scratch_db: Database,
    postgres_proxy: Any,
    intercepting_aws: Any,
    topology_factory: Any,
    background: Any,
    eventually: Any,
) -> None:
    topology = await topology_factory(max_receive_count=3, visibility_timeout=1)
    proxied = postgres_proxy.database(scratch_db.schema)
    try:
        await postgres_proxy.down()
        envelopes = await send_all(topology, 3)
        spy = ReceiveSpy()
        spy.outage = True
        background(
            outage_consumer(proxied, intercepting_aws(receive_message=spy.receive_message), topology,
                            {"ProductDeleted": remember}).run()
        )
        await asyncio.sleep(4.0)  # a failover
        assert await topology.depth(topology.dead_letter_url) == 0
        # The messages in hand failed once; then nothing was received until the database answered.
        assert spy.received_in_outage <= 3
        spy.outage = False
        await postgres_proxy.up()

        async def all_applied() -> bool:
            return len(await effects(scratch_db)) == 3

        await eventually(all_applied, timeout=15)
        assert await effects(scratch_db) == sorted(str(e.id) for e in envelopes)
        assert await topology.depth(topology.dead_letter_url) == 0
    finally:
        await proxied.close()


async def test_an_unavailable_service_pauses_receiving_and_dead_letters_nothing(
    scratch_db: Database, intercepting_aws: Any, topology_factory: Any, background: Any, eventually: Any
) -> None:
    # The production redrive policy: five receives.
    topology = await topology_factory(max_receive_count=5, visibility_timeout=1)
    service_down = True

    async def calls_a_service(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        if service_down:
            raise DependencyUnavailable("the product service is unavailable, try again shortly")
        await remember(conn, envelope, data)

    envelopes = await send_all(topology, 3)
    spy = ReceiveSpy()
    spy.outage = True
    background(
        outage_consumer(scratch_db, intercepting_aws(receive_message=spy.receive_message), topology,
                        {"ProductDeleted": calls_a_service}).run()
    )
    await asyncio.sleep(2.5)
    assert await topology.depth(topology.dead_letter_url) == 0
    # Once paused, one message at a time: each a trial of whether the service is back. (A receive
    # already under way when the first message failed may still have brought a batch.)
    batches = [asked for asked in spy.asked_in_outage if asked > 1]
    assert len(batches) <= 2
    assert spy.asked_in_outage[-1] == 1
    spy.outage = False
    service_down = False

    async def all_applied() -> bool:
        return len(await effects(scratch_db)) == 3

    await eventually(all_applied, timeout=15)
    assert await effects(scratch_db) == sorted(str(e.id) for e in envelopes)
    assert await topology.depth(topology.dead_letter_url) == 0


async def test_a_handler_bug_is_still_retried_then_dead_lettered_quickly(
    scratch_db: Database, aws: AwsClients, topology_factory: Any, background: Any
) -> None:
    topology = await topology_factory(max_receive_count=2, visibility_timeout=1)

    async def broken(_conn: asyncpg.Connection, _envelope: Envelope, _data: EventData) -> None:
        raise KeyError("a bug, not an outage")

    [envelope] = await send_all(topology, 1)
    background(outage_consumer(scratch_db, aws, topology, {"ProductDeleted": broken}).run())
    started = time.monotonic()
    dead = await topology.drain(topology.dead_letter_url, expect=1, timeout=10)
    assert [decode_event(m["Body"])[0].id for m in dead] == [envelope.id]
    assert time.monotonic() - started < 8


async def test_a_hanging_handler_times_out_and_is_retried_then_dead_lettered(
    scratch_db: Database, aws: AwsClients, topology_factory: Any, background: Any
) -> None:
    topology = await topology_factory(max_receive_count=2, visibility_timeout=1)
    calls = 0

    async def hangs(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        nonlocal calls
        calls += 1
        await remember(conn, envelope, data)
        # Blocked in the database, as on a row lock with no lock_timeout.
        await conn.execute("SELECT pg_sleep(600) /* hanging-handler-test */")

    [envelope] = await send_all(topology, 1)
    background(
        QueueConsumer(
            scratch_db,
            aws,
            queue_url=topology.queue_url,
            handlers={"ProductDeleted": hangs},
            consumer="tests",
            wait_time_seconds=1,
            handler_timeout_seconds=1.0,
        ).run()
    )
    dead = await topology.drain(topology.dead_letter_url, expect=1, timeout=15)
    assert [decode_event(m["Body"])[0].id for m in dead] == [envelope.id]
    assert calls == 2
    assert await effects(scratch_db) == []
    # The timed-out statements were cancelled, not left holding their connections.
    async with scratch_db.engine.connect() as conn:
        running = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE '%hanging-handler-test%' AND pid <> pg_backend_pid()"
            )
        )
    assert running == 0


async def test_events_without_a_handler_are_acknowledged_even_of_unknown_types_or_versions(
    scratch_db: Database, aws: AwsClients, topology: Any, background: Any, eventually: Any
) -> None:
    def variant(event_type: str, version: int) -> str:
        body = json.loads(encode_envelope(new_envelope(product_deleted(), source="tests")))
        return json.dumps({**body, "type": event_type, "version": version})

    # Published by a newer build first: a type this build does not know, and a newer version of one
    # it knows but does not handle. Neither is this consumer's business.
    await topology.send(variant("ProductArchived", 1))
    await topology.send(variant("ProductUpdated", 2))
    # A newer version of a type it does handle: it cannot apply that, so it is dead-lettered.
    newer = variant("ProductDeleted", 2)
    await topology.send(newer)
    [good] = await send_all(topology, 1)
    background(
        QueueConsumer(
            scratch_db, aws, queue_url=topology.queue_url, handlers={"ProductDeleted": remember}, consumer="tests",
            wait_time_seconds=1,
        ).run()
    )

    async def settled() -> bool:
        return await topology.depth(topology.queue_url) == 0

    await eventually(settled, timeout=10)
    assert await effects(scratch_db) == [str(good.id)]
    dead = await topology.drain(topology.dead_letter_url, expect=1)
    assert [m["Body"] for m in dead] == [newer]
    assert "version 2 is not supported" in dead[0]["MessageAttributes"]["dead_letter_reason"]["StringValue"]
