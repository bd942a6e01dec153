"""The consumer's transaction on its own (`apply_event`): inbox claim and handler commit or roll back
together, and a concurrent delivery of the same event waits for the first to end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from commerce_platform.database import Database
from commerce_platform.events.catalog import EventData, ProductDeleted
from commerce_platform.events.consumer import apply_event
from commerce_platform.events.envelope import Envelope, new_envelope

pytestmark = pytest.mark.stack

CONSUMER = "tests"


def event() -> tuple[Envelope, ProductDeleted]:
    data = ProductDeleted(product_id=uuid4(), sku="SKU-1", revision=1, deleted_at=datetime.now(UTC))
    return new_envelope(data, source="tests"), data


async def remember(conn: asyncpg.Connection, envelope: Envelope, _data: EventData) -> None:
    await conn.execute("INSERT INTO effect (event_id) VALUES ($1)", envelope.id)


async def counts(database: Database) -> tuple[int, int]:
    """(effect rows, inbox rows) committed so far."""
    row = await database.fetchrow("SELECT (SELECT count(*) FROM effect), (SELECT count(*) FROM inbox)")
    assert row is not None
    return row[0], row[1]


async def test_a_failing_handler_rolls_back_its_writes_and_the_inbox_claim(scratch_db: Database) -> None:
    envelope, data = event()

    async def broken(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        await remember(conn, envelope, data)
        raise RuntimeError("downstream is down")

    with pytest.raises(RuntimeError, match="downstream is down"):
        await apply_event(scratch_db, CONSUMER, broken, envelope, data)
    assert await counts(scratch_db) == (0, 0)
    # The claim went with the failure, so the retry applies the event; the one after it is skipped.
    assert await apply_event(scratch_db, CONSUMER, remember, envelope, data) is True
    assert await apply_event(scratch_db, CONSUMER, remember, envelope, data) is False
    assert await counts(scratch_db) == (1, 1)
    # Another consumer of the same schema keeps its own record of the event.
    assert await apply_event(scratch_db, "other-consumer", remember, envelope, data) is True
    assert await counts(scratch_db) == (2, 2)


@pytest.mark.parametrize("first_fails", [True, False], ids=["first rolls back", "first commits"])
async def test_a_concurrent_delivery_waits_for_the_first_one_to_end(scratch_db: Database, first_fails: bool) -> None:
    envelope, data = event()
    claimed, finish = asyncio.Event(), asyncio.Event()

    async def held_open(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        await remember(conn, envelope, data)
        claimed.set()
        await finish.wait()
        if first_fails:
            raise RuntimeError("rolled back")

    first = asyncio.create_task(apply_event(scratch_db, CONSUMER, held_open, envelope, data))
    second: asyncio.Task[bool] | None = None
    try:
        await asyncio.wait_for(claimed.wait(), 5)
        second = asyncio.create_task(apply_event(scratch_db, CONSUMER, remember, envelope, data))
        await asyncio.sleep(0.3)
        assert not second.done()  # waiting on the inbox row's primary key
        finish.set()
        if first_fails:
            with pytest.raises(RuntimeError):
                await first
            assert await asyncio.wait_for(second, 5) is True  # took over
        else:
            assert await first is True
            assert await asyncio.wait_for(second, 5) is False  # skipped
        assert await counts(scratch_db) == (1, 1)
    finally:
        # A failed assertion must not leave a transaction open: the schema is dropped after the test.
        finish.set()
        await asyncio.gather(first, *([second] if second else []), return_exceptions=True)
