"""Fixtures for the notification service's tests: the service's schema (rows put in place and claimed
as the delivery worker would), a real SMTP server that can hold a message mid-DATA, and a client
of the running user service.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Rows the tests insert are not due for a day, so the running service's own worker
leaves them alone; each test deletes its rows afterwards.
"""

from __future__ import annotations

import asyncio
import email
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from commerce_platform.database import Database
from commerce_platform.devstack.processes import free_port
from commerce_platform.http_client import ServiceClient
from commerce_platform.testing import schema_database
from notification_service.delivery import CLAIMED_COLUMNS

_INSERT = """
INSERT INTO notification (id, event_id, user_id, order_id, type, channel, recipient, subject, body_text,
                          status, attempts, last_error, next_attempt_at)
VALUES ($1, $2, $3, $4, 'order_confirmation', $5, $6, $7, 'hi', $8, $9, $10, now() + interval '1 day')
"""
# What the worker's claim does to its batch, for chosen rows; their due time stays a day away.
_CLAIM = f"UPDATE notification SET claim_token = $2 WHERE id = ANY($1) RETURNING {CLAIMED_COLUMNS}"


class NotificationRows:
    """Notification rows put in place, claimed and read back directly in the service's schema."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.inserted: list[uuid.UUID] = []

    async def insert(
        self, *, channel: str = "email", recipient: str | None = "ada@example.com", subject: str = "hi",
        user_id: uuid.UUID | str | None = None, order_id: uuid.UUID | None = None, status: str = "pending",
        attempts: int = 0, last_error: str | None = None,
    ) -> uuid.UUID:
        row_id = uuid.uuid4()
        owner = uuid.UUID(str(user_id)) if user_id else uuid.uuid4()
        await self.database.fetch(
            _INSERT, row_id, uuid.uuid4(), owner, order_id, channel, recipient, subject, status, attempts, last_error
        )
        self.inserted.append(row_id)
        return row_id

    async def claim(self, *row_ids: uuid.UUID) -> tuple[uuid.UUID, list[dict[str, Any]]]:
        """Claim the rows as one batch with a fresh token; returns the token and the claimed rows."""
        token = uuid.uuid4()
        rows = await self.database.fetch(_CLAIM, list(row_ids), token)
        by_id = {row["id"]: dict(row) for row in rows}
        return token, [by_id[row_id] for row_id in row_ids]

    async def get(self, row_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.database.fetchrow("SELECT * FROM notification WHERE id = $1", row_id)

    async def delete_inserted(self) -> None:
        await self.database.fetch("DELETE FROM notification WHERE id = ANY($1)", self.inserted)


@pytest.fixture(scope="session")
async def notifications_database(stack: Any) -> AsyncIterator[Database]:
    """The service's own `Database` over the administrator's login, to run its code on the real schema."""
    async with schema_database(stack.admin_database_url, "notifications") as database:
        yield database


@pytest.fixture
async def rows(notifications_database: Database) -> AsyncIterator[NotificationRows]:
    helper = NotificationRows(notifications_database)
    try:
        yield helper
    finally:
        await helper.delete_inserted()


class HoldingSink:
    """An SMTP server's handler that keeps every message, except that DATA for a subject in `held`
    hangs (as a slow relay would) until the server stops. Runs on the server's thread: appends only."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.holding: list[str] = []  # subjects whose DATA is hanging right now
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        subject = str(email.message_from_bytes(envelope.original_content or b"")["Subject"])
        if subject in self.held:
            self.holding.append(subject)
            await asyncio.sleep(3600)
        self.subjects.append(subject)
        return "250 Message accepted for delivery"


@pytest.fixture
def sink() -> Iterator[tuple[HoldingSink, int]]:
    """A real SMTP server on 127.0.0.1: its handler and its port."""
    handler = HoldingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def user_service(stack: Any, http: aiohttp.ClientSession) -> ServiceClient:
    """The running user service, as the notification service calls it."""
    return ServiceClient(http, service="user", base_url=stack.service_url("user"))
