"""Tables of the `inventory` schema: stock per product, its movements, and checkout reservations."""

from __future__ import annotations

import datetime
import enum
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase
from advanced_alchemy.mixins import AuditColumns
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship


class MovementReason(enum.StrEnum):
    """Why `on_hand` changed. Reservations move no stock, so they are not movements."""

    STOCK_COUNT = "stock_count"  # an admin set the level outright (PUT)
    RESTOCK = "restock"
    CUSTOMER_RETURN = "customer_return"
    DAMAGE = "damage"
    SHRINKAGE = "shrinkage"
    CORRECTION = "correction"
    SALE = "sale"  # a committed reservation left the warehouse
    ORDER_CANCELLED = "order_cancelled"  # a committed order was cancelled and its stock came back


class ReservationStatus(enum.StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    # Committed, then its order was cancelled and the stock put back on the shelf.
    RESTOCKED = "restocked"


class StockItem(AuditColumns, DefaultBase):
    """Stock of one product. `reserved` counts units held by reservations with status `held`;
    `revision` increases with every change and travels in StockChanged so consumers can drop
    stale events."""

    __tablename__ = "stock_item"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="ck_stock_item_on_hand"),
        CheckConstraint("reserved >= 0", name="ck_stock_item_reserved"),
        CheckConstraint("reserved <= on_hand", name="ck_stock_item_reserved_le_on_hand"),
    )

    product_id: Mapped[UUID] = mapped_column(primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set by ProductDeleted: the product can no longer be reserved or looked up publicly.
    discontinued_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(UUIDv7AuditBase):
    """One change of `on_hand`: the audit trail admins page through (ids are time-ordered)."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="ck_stock_movement_delta"),
        Index("ix_stock_movement_product", "product_id", "id"),
    )

    product_id: Mapped[UUID] = mapped_column(ForeignKey("stock_item.product_id"))
    delta: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    reservation_id: Mapped[UUID | None] = mapped_column(default=None)
    # The admin who made a manual change; None for changes the system made (sales, cancellations).
    actor_id: Mapped[UUID | None] = mapped_column(default=None)


class Reservation(AuditColumns, DefaultBase):
    """A checkout's hold on stock. Its id is chosen by the caller, which makes reserving idempotent."""

    __tablename__ = "reservation"
    __table_args__ = (
        CheckConstraint(
            "status IN ('held', 'committed', 'released', 'expired', 'restocked')", name="ck_reservation_status"
        ),
        # The sweeper's and the reserving transaction's only lookup: holds past their expiry.
        Index("ix_reservation_held_expiry", "expires_at", postgresql_where=text("status = 'held'")),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.HELD.value)
    # 'infinity' once pinned (its order was paid for): no expiry query matches it any more.
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    committed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # When it stopped holding stock without a sale: released, expired or restocked.
    closed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Released by OrderCancelled (its order was cancelled before it was committed), so a later
    # OrderCreated for it is expected, not a case to reconcile by hand.
    released_by_cancellation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    lines: Mapped[list[ReservationLine]] = relationship(
        lazy="selectin", order_by="ReservationLine.product_id", cascade="all, delete-orphan"
    )

    def quantities(self) -> dict[UUID, int]:
        return {line.product_id: line.quantity for line in self.lines}


class ReservationLine(DefaultBase):
    """Units of one product held by one reservation; immutable once written."""

    __tablename__ = "reservation_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_reservation_line_quantity"),)

    reservation_id: Mapped[UUID] = mapped_column(ForeignKey("reservation.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[UUID] = mapped_column(ForeignKey("stock_item.product_id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
