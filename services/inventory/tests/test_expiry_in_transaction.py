"""Holds past their expiry stop counting at once, in the read path and in the reserving transaction,
without waiting for the sweeper: checked against the real schema inside a transaction the sweeper
cannot see (and that is rolled back at the end)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.errors import Conflict
from commerce_platform.events.catalog import OrderCreated, OrderLine, ShippingAddress
from commerce_platform.events.envelope import new_envelope
from commerce_platform.events.outbox import OutboxMessage
from inventory_service.handlers import on_order_created
from inventory_service.ledger import connection_of
from inventory_service.models import Reservation, ReservationLine, StockItem
from inventory_service.queries import STOCK_LEVEL_SQL
from inventory_service.reservations import ReservationService


async def test_expired_holds_are_ignored_and_expired_by_the_next_reservation(inventory_database: Any) -> None:
    product_id, other_product, stale_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session = AsyncSession(inventory_database.engine, expire_on_commit=False)
    try:
        await session.begin()
        session.add_all(
            [
                StockItem(product_id=product_id, on_hand=3, reserved=3),
                StockItem(product_id=other_product, on_hand=5, reserved=1),
            ]
        )
        await session.flush()
        # A hold that expired a second ago and was never swept, spanning a product we do not reserve.
        await session.execute(insert(Reservation).values(id=stale_id, expires_at=func.now() - timedelta(seconds=1)))
        await session.execute(
            insert(ReservationLine),
            [
                {"reservation_id": stale_id, "product_id": product_id, "quantity": 3},
                {"reservation_id": stale_id, "product_id": other_product, "quantity": 1},
            ],
        )
        raw = await connection_of(session)

        level = await raw.fetchrow(STOCK_LEVEL_SQL, product_id)
        assert (level["on_hand"], level["reserved"]) == (3, 0)

        reservation, created = await ReservationService(raw).reserve(uuid.uuid4(), {product_id: 2}, 60)
        assert created and reservation.status == "held"
        stale = await session.get(Reservation, stale_id, populate_existing=True)
        assert stale is not None and stale.status == "expired"
        # The stale hold's other product was locked and freed too, not just the one reserved now.
        rows = {
            r["product_id"]: (r["on_hand"], r["reserved"])
            for r in await raw.fetch(
                "SELECT product_id, on_hand, reserved FROM stock_item WHERE product_id = ANY($1::uuid[])",
                [product_id, other_product],
            )
        }
        assert rows == {product_id: (3, 2), other_product: (5, 0)}
    finally:
        await session.rollback()
        await session.close()


async def test_an_order_for_an_expired_hold_is_acknowledged_and_the_expiry_announced(inventory_database: Any) -> None:
    """OrderCreated for a hold that expired unswept: nothing is sold, and the expiry that committing
    discovered is kept and announced (the handler acknowledges the event, so its transaction commits)."""
    product_id, stale_id = uuid.uuid4(), uuid.uuid4()
    session = AsyncSession(inventory_database.engine, expire_on_commit=False)
    try:
        await session.begin()
        session.add(StockItem(product_id=product_id, on_hand=4, reserved=2, revision=7))
        await session.flush()
        await session.execute(insert(Reservation).values(id=stale_id, expires_at=func.now() - timedelta(seconds=1)))
        await session.execute(
            insert(ReservationLine).values(reservation_id=stale_id, product_id=product_id, quantity=2)
        )
        event = OrderCreated(
            order_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            email="ann@example.com",
            reservation_id=stale_id,
            items=[OrderLine(product_id=product_id, sku="S", name="N", quantity=2, unit_price_cents=100)],
            total_cents=200,
            currency="EUR",
            shipping_address=ShippingAddress(
                full_name="Ann", line1="Main St 1", city="Berlin", postal_code="10115", country="DE"
            ),
            created_at=datetime.now(UTC),
        )

        await on_order_created(await connection_of(session), new_envelope(event, source="test"), event)

        item = await session.get(StockItem, product_id, populate_existing=True)
        assert item is not None and (item.on_hand, item.reserved, item.revision) == (4, 0, 8)
        stale = await session.get(Reservation, stale_id, populate_existing=True)
        assert stale is not None and stale.status == "expired"
        announced = [
            payload
            for payload in await session.scalars(
                select(OutboxMessage.payload).where(OutboxMessage.event_type == "StockChanged")
            )
            if str(product_id).encode() in payload
        ]
        assert len(announced) == 1 and b'"reason":"reservation_expired"' in announced[0]
    finally:
        await session.rollback()
        await session.close()


async def test_a_hold_past_its_expiry_but_not_yet_swept_is_not_pinned(inventory_database: Any) -> None:
    """Pinning is refused once the expiry has passed, even before the sweeper marks the hold: the
    units already count as free (reads and reservations ignore the hold)."""
    product_id, stale_id, live_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session = AsyncSession(inventory_database.engine, expire_on_commit=False)
    try:
        await session.begin()
        session.add(StockItem(product_id=product_id, on_hand=5, reserved=3))
        await session.flush()
        await session.execute(insert(Reservation).values(id=stale_id, expires_at=func.now() - timedelta(seconds=1)))
        await session.execute(insert(Reservation).values(id=live_id, expires_at=func.now() + timedelta(seconds=60)))
        await session.execute(
            insert(ReservationLine),
            [
                {"reservation_id": stale_id, "product_id": product_id, "quantity": 2},
                {"reservation_id": live_id, "product_id": product_id, "quantity": 1},
            ],
        )
        raw = await connection_of(session)
        service = ReservationService(raw)

        with pytest.raises(Conflict) as refused:
            await service.pin(stale_id)
        assert refused.value.problem_type == "reservation-not-held"
        assert refused.value.extra == {"reservation_status": "expired"}
        stale = await service.get(stale_id)
        assert (stale.status, stale.pinned) == ("held", False)

        assert (await service.pin(live_id)).pinned
        stored = await raw.fetchval("SELECT expires_at = 'infinity' FROM reservation WHERE id = $1", live_id)
        assert stored is True
        # The inline expiry frees the stale hold only; the pinned one keeps counting.
        await service.reserve(uuid.uuid4(), {product_id: 2}, 60)
        assert [(await service.get(r)).status for r in (stale_id, live_id)] == ["expired", "held"]
        level = await raw.fetchrow(STOCK_LEVEL_SQL, product_id)
        assert (level["on_hand"], level["reserved"]) == (5, 3)
    finally:
        await session.rollback()
        await session.close()
