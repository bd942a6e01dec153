"""Response bodies of the notification service."""

from __future__ import annotations

import datetime
from uuid import UUID

from msgspec import Struct


class NotificationView(Struct):
    id: UUID
    type: str
    channel: str
    status: str
    order_id: UUID | None
    recipient: str | None  # None: a text whose phone number is looked up at delivery
    subject: str
    attempts: int
    last_error: str | None  # the provider's own words for admins; a short summary for customers
    created_at: datetime.datetime
    sent_at: datetime.datetime | None


class NotificationPage(Struct):
    items: list[NotificationView]
    total: int
    page: int
    page_size: int
