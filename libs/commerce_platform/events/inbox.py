"""The inbox: event ids a consumer has applied, so a redelivered message changes nothing twice."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

INBOX_TABLE = "inbox"
# Unqualified: the connection's search_path resolves it to the service's own schema.
_CLAIM = "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING event_id"


class InboxRecord(DefaultBase):
    """One applied event per consumer. Written in the handler's transaction, so the record exists
    exactly when the handler's effect does."""

    __tablename__ = INBOX_TABLE

    # Several consumers in one schema (one per queue) each apply an event once.
    consumer: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTimeUTC, server_default=func.now())


async def claim_event(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    """Record `event_id` for `consumer` in the transaction open on `conn`; False if it was already applied.

    A concurrent delivery of the same event waits on the primary key until the first transaction
    ends: if that one commits this returns False, if it rolls back this one takes over.
    """
    return await conn.fetchval(_CLAIM, consumer, event_id) is not None
