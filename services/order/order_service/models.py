"""Tables of the `orders` schema: orders, their lines, and every status change they went through."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship


class Order(UUIDv7AuditBase):
    """One checkout. Written `pending` before any other service is touched, so a crash mid-way leaves
    a row the recovery task can finish or compensate; (user_id, idempotency_key) is unique."""

    __tablename__ = "customer_order"
    __table_args__ = (UniqueConstraint("user_id", "idempotency_key", name="uq_order_idempotency"),)

    user_id: Mapped[UUID] = mapped_column(index=True)
    # Known once the user service confirmed the account (after the row is opened).
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    status: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the request body: the same key with another body is a client bug, not a retry.
    request_hash: Mapped[str] = mapped_column(String(64))
    reservation_id: Mapped[UUID]
    payment_method: Mapped[str] = mapped_column(String(255))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    total_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    payment_id: Mapped[UUID | None] = mapped_column(default=None)
    # What a failed checkout answered, so a retry with the same key answers the same.
    failure_status: Mapped[int | None] = mapped_column(Integer, default=None)
    failure: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    confirmed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    cancelled_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Cancelled, refund not made yet: the cancel request makes it, or recovery after a crash or outage.
    refund_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Failed, and its payments and stock hold are still to be given back: whoever moved it out of
    # `pending` does that, recovery after a crash or outage (see compensation.py).
    compensation_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A refund or void the payment service refused for good (4xx): settled by hand, not retried.
    refund_failure: Mapped[str | None] = mapped_column(Text, default=None)
    # Recovery claims a stuck order for a while, so two replicas never finish the same one together.
    recovery_lease_until: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    lines: Mapped[list[OrderLine]] = relationship(lazy="selectin", order_by="OrderLine.position")
    history: Mapped[list[OrderStatusChange]] = relationship(lazy="selectin", order_by="OrderStatusChange.created_at")


class OrderLine(UUIDv7AuditBase):
    __tablename__ = "order_line"

    order_id: Mapped[UUID] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[UUID]
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)


class OrderStatusChange(UUIDv7AuditBase):
    __tablename__ = "order_status_change"

    order_id: Mapped[UUID] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
