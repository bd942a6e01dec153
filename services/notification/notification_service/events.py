"""Consumes OrderCreated and OrderCancelled from `notification-orders`: each becomes an email (and a
text message if the customer opted in), recorded as pending for the delivery worker to send."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from litestar import Litestar
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.events.catalog import EventData, OrderCancelled, OrderCreated
from commerce_platform.events.consumer import Handler, queue_consumer_worker
from commerce_platform.events.envelope import Envelope
from notification_service.contacts import ContactDirectory
from notification_service.models import Notification
from notification_service.settings import NotificationSettings
from notification_service.templates import RenderedMessage, order_cancellation, order_confirmation

QUEUE = "notification-orders"


async def record(
    session: AsyncSession, *, event_id: UUID, user_id: UUID, order_id: UUID, kind: str, channel: str,
    recipient: str, message: RenderedMessage,
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    values: dict[str, Any] = {
        "event_id": event_id, "user_id": user_id, "order_id": order_id, "type": kind, "channel": channel,
        "recipient": recipient, "subject": message.subject, "status": "pending", "attempts": 0,
        "next_attempt_at": now,
        "body_text": message.text if channel == "email" else message.sms,
        "body_html": message.html if channel == "email" else None,
    }
    # The inbox already makes the handler run once; the constraint is the belt to its braces.
    await session.execute(
        insert(Notification)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_nothing(constraint="uq_notification_event_channel")
    )


def order_handlers(settings: NotificationSettings, contacts: ContactDirectory) -> Mapping[str, Handler]:
    async def notify(
        session: AsyncSession, envelope: Envelope, *, user_id: UUID, order_id: UUID, email: str, kind: str,
        message: RenderedMessage,
    ) -> None:
        await record(session, event_id=envelope.id, user_id=user_id, order_id=order_id, kind=kind, channel="email",
                     recipient=email, message=message)
        contact = await contacts.contact(user_id)
        if contact.texts_allowed and contact.phone:
            await record(session, event_id=envelope.id, user_id=user_id, order_id=order_id, kind=kind,
                         channel="sms", recipient=contact.phone, message=message)

    async def on_order_created(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, OrderCreated)
        await notify(session, envelope, user_id=data.user_id, order_id=data.order_id, email=data.email,
                     kind="order_confirmation", message=order_confirmation(data, settings.shop_name))

    async def on_order_cancelled(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, OrderCancelled)
        await notify(session, envelope, user_id=data.user_id, order_id=data.order_id, email=data.email,
                     kind="order_cancellation", message=order_cancellation(data, settings.shop_name))

    return {"OrderCreated": on_order_created, "OrderCancelled": on_order_cancelled}


async def order_events_consumer(app: Litestar) -> None:
    """Background worker: the queue consumer with handlers bound to this process's settings and clients."""
    settings: NotificationSettings = app.state["settings"]
    contacts = ContactDirectory(app.state["service_clients"]["user"])
    await queue_consumer_worker(QUEUE, order_handlers(settings, contacts))(app)
