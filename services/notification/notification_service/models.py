"""Tables of the `notifications` schema: every message we tried to deliver, with its outcome."""

from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class Notification(UUIDv7AuditBase):
    """One message on one channel. (event_id, channel) is unique: a redelivered event adds nothing."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("event_id", "channel", name="uq_notification_event_channel"),)

    event_id: Mapped[UUID]
    user_id: Mapped[UUID] = mapped_column(index=True)
    order_id: Mapped[UUID | None] = mapped_column(default=None)
    type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    # NULL only on a text whose recipient the delivery worker still has to ask the user service for.
    recipient: Mapped[str | None] = mapped_column(String(320), default=None)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, default=None)
    # pending -> sent, or pending -> (retries) -> failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    # Set by each claim; a batch's outcomes only land on rows still holding its token.
    claim_token: Mapped[UUID | None] = mapped_column(default=None)
