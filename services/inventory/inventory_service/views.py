"""Database rows turned into response bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from inventory_service.ledger import StockRow
from inventory_service.models import ReservationStatus, StockMovement
from inventory_service.reservations import Reservation
from inventory_service.schemas import Movement, ReservationLineOut, ReservationOut, StockLevel


def stock_level_of(item: StockRow) -> StockLevel:
    return StockLevel(
        product_id=item.product_id, on_hand=item.on_hand, reserved=item.reserved, available=item.available
    )


def movement_of(movement: StockMovement) -> Movement:
    return Movement(
        id=movement.id,
        product_id=movement.product_id,
        delta=movement.delta,
        on_hand_after=movement.on_hand_after,
        reason=movement.reason,
        note=movement.note,
        reservation_id=movement.reservation_id,
        actor_id=movement.actor_id,
        created_at=movement.created_at,
    )


def reservation_of(reservation: Reservation) -> ReservationOut:
    status = reservation.status
    # A hold past its expiry holds nothing any more, whether or not the sweeper has marked it yet.
    if reservation.overdue(datetime.now(UTC)):
        status = ReservationStatus.EXPIRED.value
    return ReservationOut(
        reservation_id=reservation.id,
        status=status,
        expires_at=reservation.expires_at,
        pinned=reservation.pinned,
        lines=[ReservationLineOut(product_id=line.product_id, quantity=line.quantity) for line in reservation.lines],
        created_at=reservation.created_at,
        committed_at=reservation.committed_at,
        closed_at=reservation.closed_at,
    )
