"""What the inventory service consumes from `inventory-orders`: order events settle reservations,
product events open and close stock records.

Each handler runs in the consumer's transaction, on the asyncpg connection it is given, with the
inbox record of its event (so a redelivery is skipped), and is idempotent on its own as well: the
same change may come again under another event id, and an event may arrive after the state it asks
for was already reached (by an earlier event, or a commit or release over the internal API).

OrderCreated may be consumed long after the order was placed (a consumer outage, a DLQ redrive):
the order service pins the hold before it confirms the order, so the hold is still there to commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import asyncpg
import structlog

from commerce_platform.errors import Conflict, NotFound
from commerce_platform.events.catalog import EventData, OrderCancelled, OrderCreated, ProductCreated, ProductDeleted
from commerce_platform.events.consumer import Handler, queue_consumer_worker
from commerce_platform.events.envelope import Envelope
from commerce_platform.service_app import BackgroundWorker
from inventory_service.ledger import StockLedger
from inventory_service.models import ReservationStatus
from inventory_service.reservations import Reservation, ReservationService

QUEUE = "inventory-orders"
log = structlog.get_logger("inventory.handlers")

EventT = TypeVar("EventT", bound=EventData)


def _expect(data: EventData, kind: type[EventT]) -> EventT:
    if not isinstance(data, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


async def on_product_created(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """Every catalogue product gets a stock record at zero, ready for an admin to stock it."""
    event = _expect(data, ProductCreated)
    await StockLedger(conn).create_missing([event.product_id])


async def on_product_deleted(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """A deleted product cannot be reserved any more; holds already made still settle normally."""
    event = _expect(data, ProductDeleted)
    await StockLedger(conn).discontinue(event.product_id, event.deleted_at)


async def on_order_created(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """The order is placed: its (pinned) reservation becomes a sale; a no-op if already committed."""
    event = _expect(data, OrderCreated)
    reservations = ReservationService(conn)
    try:
        await reservations.commit(event.reservation_id)
    except NotFound:
        log.warning(
            "order created for an unknown reservation",
            order_id=str(event.order_id),
            reservation_id=str(event.reservation_id),
        )
    except Conflict as exc:
        # Retrying cannot help either way, so the event is acknowledged.
        reservation = await reservations.find(event.reservation_id)
        if reservation is not None and _cancelled(reservation):
            # OrderCancelled was consumed first (one unordered queue) or after the sale: the hold was
            # released or restocked for it, which is the right outcome for a cancelled order.
            log.info(
                "order created after its cancellation was applied; nothing to commit",
                order_id=str(event.order_id),
                reservation_id=str(event.reservation_id),
                reservation_status=reservation.status,
            )
            return
        # Released or expired for another reason: the hold was never pinned, or was given back
        # while its order was confirmed. Leave a loud trace for someone to reconcile it by hand.
        log.error(
            "order created but its reservation cannot be committed",
            order_id=str(event.order_id),
            reservation_id=str(event.reservation_id),
            detail=exc.detail,
        )


def _cancelled(reservation: Reservation) -> bool:
    """Its order's cancellation settled it: restocked after the sale, or released before it."""
    return reservation.status == ReservationStatus.RESTOCKED or (
        reservation.status == ReservationStatus.RELEASED and reservation.released_by_cancellation
    )


async def on_order_cancelled(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """Undo the order's reservation: release it if still held, restock it if it was sold."""
    event = _expect(data, OrderCancelled)
    reservation = await ReservationService(conn).cancel_order(event.reservation_id)
    if reservation is None:
        log.warning(
            "order cancelled for an unknown reservation",
            order_id=str(event.order_id),
            reservation_id=str(event.reservation_id),
        )


HANDLERS: Mapping[str, Handler] = {
    "ProductCreated": on_product_created,
    "ProductDeleted": on_product_deleted,
    "OrderCreated": on_order_created,
    "OrderCancelled": on_order_cancelled,
}


def inventory_orders_consumer() -> BackgroundWorker:
    return queue_consumer_worker(QUEUE, HANDLERS)
