"""Consumes OrderCreated and OrderCancelled from `notification-orders`: each becomes an email (and a
text message if the customer opted in), recorded as pending for the delivery worker to send.

The email never waits on the user service: when it cannot tell us the customer's phone and opt-in,
the text is recorded with no recipient and the delivery worker asks again (see delivery.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from uuid import UUID

import asyncpg
from litestar import Litestar

from commerce_platform.errors import DependencyUnavailable
from commerce_platform.events.catalog import EventData, OrderCancelled, OrderCreated
from commerce_platform.events.consumer import Handler, queue_consumer_worker
from commerce_platform.events.envelope import Envelope
from notification_service.contacts import ContactDirectory
from notification_service.settings import NotificationSettings
from notification_service.templates import RenderedMessage, order_cancellation, order_confirmation

QUEUE = "notification-orders"

# Pending and due at once, for the delivery worker. The inbox already makes the handler run once;
# the constraint is the belt to its braces.
_RECORD = """
INSERT INTO notification (id, event_id, user_id, order_id, type, channel, recipient, subject, body_text, body_html,
                          status, attempts, next_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, now())
ON CONFLICT ON CONSTRAINT uq_notification_event_channel DO NOTHING
"""


async def record(
    conn: asyncpg.Connection, *, event_id: UUID, user_id: UUID, order_id: UUID, kind: str, channel: str,
    recipient: str | None, message: RenderedMessage,
) -> None:
    email = channel == "email"
    await conn.execute(
        _RECORD, uuid.uuid4(), event_id, user_id, order_id, kind, channel, recipient, message.subject,
        message.text if email else message.sms, message.html if email else None,
    )


def order_handlers(settings: NotificationSettings, contacts: ContactDirectory) -> Mapping[str, Handler]:
    async def notify(
        conn: asyncpg.Connection, envelope: Envelope, *, user_id: UUID, order_id: UUID, email: str, kind: str,
        message: RenderedMessage,
    ) -> None:
        await record(conn, event_id=envelope.id, user_id=user_id, order_id=order_id, kind=kind, channel="email",
                     recipient=email, message=message)
        try:
            contact = await contacts.contact(user_id)
        except DependencyUnavailable:
            # Raising would roll back the email too; a text with no recipient is resolved at delivery.
            await record(conn, event_id=envelope.id, user_id=user_id, order_id=order_id, kind=kind,
                         channel="sms", recipient=None, message=message)
            return
        if contact.texts_allowed and contact.phone:
            await record(conn, event_id=envelope.id, user_id=user_id, order_id=order_id, kind=kind,
                         channel="sms", recipient=contact.phone, message=message)

    async def on_order_created(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, OrderCreated)
        await notify(conn, envelope, user_id=data.user_id, order_id=data.order_id, email=data.email,
                     kind="order_confirmation", message=order_confirmation(data, settings.shop_name))

    async def on_order_cancelled(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, OrderCancelled)
        await notify(conn, envelope, user_id=data.user_id, order_id=data.order_id, email=data.email,
                     kind="order_cancellation", message=order_cancellation(data, settings.shop_name))

    return {"OrderCreated": on_order_created, "OrderCancelled": on_order_cancelled}


async def order_events_consumer(app: Litestar) -> None:
    """Background worker: the queue consumer with handlers bound to this process's settings and clients."""
    settings: NotificationSettings = app.state["settings"]
    contacts = ContactDirectory(app.state["service_clients"]["user"])
    await queue_consumer_worker(QUEUE, order_handlers(settings, contacts))(app)
