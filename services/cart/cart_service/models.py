"""Tables of the `carts` schema: a cart per signed-in user or per guest token, and its lines."""

from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column


class Cart(UUIDv7AuditBase):
    """Owned by a user, or by whoever holds the guest token (only its SHA-256 is stored)."""

    __tablename__ = "cart"
    # The purge's lookup of lapsed guest carts (migration 0002).
    __table_args__ = (Index("ix_cart_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")),)

    user_id: Mapped[UUID | None] = mapped_column(default=None, unique=True)
    guest_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    # Guest carts are abandoned often; they lapse 30 days after their last change and are purged
    # (purge.py), a user's cart does not.
    expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class CartItem(UUIDv7AuditBase):
    """One product line; quantities are bounded by a CHECK as well as by the API."""

    __tablename__ = "cart_item"
    __table_args__ = (UniqueConstraint("cart_id", "product_id", name="uq_cart_item_product"),)

    cart_id: Mapped[UUID] = mapped_column(ForeignKey("cart.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[UUID]
    quantity: Mapped[int] = mapped_column(Integer)


class CheckoutRecord(UUIDv7AuditBase):
    """Orders whose lines were already taken out of a cart, so a retried call removes nothing twice."""

    __tablename__ = "checkout_record"

    order_id: Mapped[UUID] = mapped_column(unique=True)
    cart_id: Mapped[UUID] = mapped_column(ForeignKey("cart.id", ondelete="CASCADE"))
