"""The transactional outbox: an event is a row written in the same transaction as the change it announces."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from commerce_platform.events.catalog import EventData
from commerce_platform.events.envelope import Envelope, encode_envelope, new_envelope, topic_of
from commerce_platform.events.tracing import current_traceparent

OUTBOX_TABLE = "outbox"
_INSERT = "INSERT INTO outbox (id, topic, event_type, payload, traceparent) VALUES ($1, $2, $3, $4, $5)"


class OutboxMessage(DefaultBase):
    """One event waiting for (or done with) the relay. The table is unqualified: it lives in the
    service's own schema through `search_path`, like every other table of the service.

    advanced-alchemy's `DefaultBase` shares its registry with the services' models, so one metadata
    describes a service's tables including this one.
    """

    __tablename__ = OUTBOX_TABLE
    __table_args__ = (
        # The relay's only query: pending rows in write order. Sent rows drop out of the index.
        Index("ix_outbox_pending", "created_at", postgresql_where=text("sent_at IS NULL")),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(256))
    event_type: Mapped[str] = mapped_column(String(128))
    # The encoded envelope, byte for byte what the relay publishes: no re-encoding on the hot path.
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    traceparent: Mapped[str | None] = mapped_column(Text, default=None)
    # Database time, not the writer's clock: the relay compares `available_at` with the database's now().
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC, server_default=func.now())
    available_at: Mapped[datetime] = mapped_column(DateTimeUTC, server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


async def record_event(
    session: AsyncSession, data: EventData, *, source: str, event_id: UUID | None = None
) -> Envelope:
    """Add `data` to the outbox in the caller's session: it commits or rolls back with the change.

    Nothing is sent here. The relay publishes the row after commit (woken by the table's NOTIFY
    trigger), so an event is never announced for a change that did not happen, and is never lost
    for one that did. The current span's traceparent is stored so the consumer continues this trace.
    """
    envelope = new_envelope(data, source=source, event_id=event_id)
    session.add(
        OutboxMessage(
            id=envelope.id,
            topic=topic_of(envelope.type),
            event_type=envelope.type,
            payload=encode_envelope(envelope),
            traceparent=current_traceparent(),
        )
    )
    return envelope


# (id, topic, event_type, payload, traceparent): the columns a writer fills; the rest have defaults.
OutboxRow = tuple[UUID, str, str, bytes, str | None]


def outbox_row(data: EventData, *, source: str, event_id: UUID | None = None) -> tuple[Envelope, OutboxRow]:
    """The envelope of `data` and the outbox row announcing it, as `record_event` writes it, for
    services that insert rows with plain SQL (several in one statement, if they like)."""
    envelope = new_envelope(data, source=source, event_id=event_id)
    row = (envelope.id, topic_of(envelope.type), envelope.type, encode_envelope(envelope), current_traceparent())
    return envelope, row


async def record_event_on(
    conn: asyncpg.Connection, data: EventData, *, source: str, event_id: UUID | None = None
) -> Envelope:
    """`record_event` for services on plain asyncpg: the row is written on `conn`, inside the
    caller's transaction, with the same envelope, topic and traceparent."""
    envelope, row = outbox_row(data, source=source, event_id=event_id)
    await conn.execute(_INSERT, *row)
    return envelope
