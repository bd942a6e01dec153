"""Checkout reservations: hold stock all or nothing, then commit it (a sale) or release it.

Every operation is idempotent, because the order service retries over the network and events are
redelivered: the reservation id is the caller's, and each transition re-checks the status under
the locks of the reservation's stock rows (see `ledger.py` for the locking rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from commerce_platform.errors import Conflict, NotFound
from inventory_service.ledger import StockLedger
from inventory_service.models import MovementReason, Reservation, ReservationLine, ReservationStatus, StockItem
from inventory_service.schemas import ShortLine


class InsufficientStock(Conflict):
    """409 listing every line the stock cannot cover; nothing was reserved."""

    problem_type = "insufficient-stock"

    def __init__(self, short: list[ShortLine]) -> None:
        super().__init__(
            "not enough stock for every line; nothing was reserved",
            extra={"short_lines": msgspec.to_builtins(short)},
        )


def _bookable(item: StockItem | None) -> int:
    """Units a new hold may take: none for a product we have no stock record for, or that was deleted."""
    if item is None or item.discontinued_at is not None:
        return 0
    return item.available


class ReservationService:
    """Reservations of one transaction (the request's, or an event handler's)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.ledger = StockLedger(session)

    async def get(self, reservation_id: UUID) -> Reservation:
        reservation = await self.find(reservation_id)
        if reservation is None:
            raise NotFound("reservation not found")
        return reservation

    async def reserve(
        self, reservation_id: UUID, quantities: Mapping[UUID, int], ttl_seconds: int
    ) -> tuple[Reservation, bool]:
        """Hold every line or none. Returns the reservation and whether this call created it."""
        existing = await self.find(reservation_id)
        if existing is not None:
            return self._same_request(existing, quantities), False
        stock = await self.ledger.lock(quantities)
        # Claim the id before judging the stock: a concurrent retry of this very request held these
        # locks just before us, and must get its reservation back, not a 409 for the units it took.
        claimed = await self.session.scalar(
            pg_insert(Reservation)
            .values(id=reservation_id, expires_at=func.now() + timedelta(seconds=ttl_seconds))
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Reservation.id)
        )
        if claimed is None:
            existing = await self.get(reservation_id)
            return self._same_request(existing, quantities), False
        short = [
            ShortLine(product_id=product_id, requested=quantity, available=max(_bookable(stock.get(product_id)), 0))
            for product_id, quantity in sorted(quantities.items())
            if _bookable(stock.get(product_id)) < quantity
        ]
        if short:
            raise InsufficientStock(short)  # rolls the claimed id back with everything else
        await self.session.execute(
            insert(ReservationLine),
            [
                {"reservation_id": reservation_id, "product_id": product_id, "quantity": quantity}
                for product_id, quantity in sorted(quantities.items())
            ],
        )
        for product_id, quantity in quantities.items():
            self.ledger.hold(stock[product_id], quantity)
        await self.ledger.finish()
        return await self.get(reservation_id), True

    async def commit(self, reservation_id: UUID) -> Reservation:
        """The held units are sold: they leave `on_hand` and `reserved`. Committing twice is a no-op."""
        reservation = await self.get(reservation_id)
        if reservation.status == ReservationStatus.COMMITTED:
            return reservation
        self._require_held(reservation, "commit")
        reservation, stock = await self._lock(reservation)
        if reservation.status == ReservationStatus.COMMITTED:
            return reservation
        self._require_held(reservation, "commit")
        for line in reservation.lines:
            self.ledger.ship(stock[line.product_id], line.quantity, reservation_id=reservation.id)
        reservation.status = ReservationStatus.COMMITTED.value
        reservation.committed_at = datetime.now(UTC)
        await self.ledger.finish()
        return reservation

    async def release(self, reservation_id: UUID) -> Reservation:
        """Give held units back to `available`. Releasing a released or expired hold is a no-op;
        a committed one is 409 (cancelling its order restocks it instead)."""
        reservation = await self.get(reservation_id)
        if reservation.status in _NOT_HOLDING:
            return reservation
        self._require_not_sold(reservation)
        reservation, stock = await self._lock(reservation)
        if reservation.status in _NOT_HOLDING:
            return reservation
        self._require_not_sold(reservation)
        self._close(reservation, stock, ReservationStatus.RELEASED)
        await self.ledger.finish()
        return reservation

    async def cancel_order(self, reservation_id: UUID) -> Reservation | None:
        """Undo an order's reservation whatever state it reached: release a hold, restock a sale.
        None if there is no such reservation."""
        reservation = await self.find(reservation_id)
        if reservation is None:
            return None
        if reservation.status in _SETTLED_AFTER_CANCEL:
            return reservation
        reservation, stock = await self._lock(reservation)
        if reservation.status == ReservationStatus.HELD:
            self._close(reservation, stock, ReservationStatus.RELEASED)
        elif reservation.status == ReservationStatus.COMMITTED:
            for line in reservation.lines:
                self.ledger.move(
                    stock[line.product_id], line.quantity, MovementReason.ORDER_CANCELLED, reservation_id=reservation.id
                )
            reservation.status = ReservationStatus.RESTOCKED.value
            reservation.closed_at = datetime.now(UTC)
        await self.ledger.finish()
        return reservation

    # -- internals ----------------------------------------------------------------------------------
    async def find(self, reservation_id: UUID) -> Reservation | None:
        statement = (
            select(Reservation)
            .where(Reservation.id == reservation_id)
            .options(joinedload(Reservation.lines))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).unique().one_or_none()

    async def _lock(self, reservation: Reservation) -> tuple[Reservation, dict[UUID, StockItem]]:
        """Lock the reservation's stock rows (which also expires it if its time is up), then re-read
        it: whatever happened to it meanwhile is now visible and cannot change until we commit."""
        stock = await self.ledger.lock(reservation.quantities())
        # Lines never change; only the state needs re-reading, now under the row lock.
        await self.session.refresh(reservation, ["status", "committed_at", "closed_at"], with_for_update=True)
        return reservation, stock

    def _close(self, reservation: Reservation, stock: dict[UUID, StockItem], status: ReservationStatus) -> None:
        for line in reservation.lines:
            self.ledger.unhold(stock[line.product_id], line.quantity)
        reservation.status = status.value
        reservation.closed_at = datetime.now(UTC)

    @staticmethod
    def _same_request(existing: Reservation, quantities: Mapping[UUID, int]) -> Reservation:
        if existing.quantities() != dict(quantities):
            raise Conflict("this reservation id is already used for different lines")
        return existing

    @staticmethod
    def _require_held(reservation: Reservation, action: str) -> None:
        if reservation.status != ReservationStatus.HELD:
            raise Conflict(
                f"cannot {action} a reservation that is {reservation.status}",
                extra={"reservation_status": reservation.status},
            )

    @staticmethod
    def _require_not_sold(reservation: Reservation) -> None:
        if reservation.status in (ReservationStatus.COMMITTED, ReservationStatus.RESTOCKED):
            raise Conflict(
                f"cannot release a reservation that is {reservation.status}; cancel its order to restock",
                extra={"reservation_status": reservation.status},
            )


_NOT_HOLDING = frozenset({ReservationStatus.RELEASED, ReservationStatus.EXPIRED})
_SETTLED_AFTER_CANCEL = frozenset({ReservationStatus.RELEASED, ReservationStatus.EXPIRED, ReservationStatus.RESTOCKED})
