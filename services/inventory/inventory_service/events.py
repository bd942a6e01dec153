"""What the inventory service publishes: StockChanged, written to the outbox with the change itself.

What it consumes (order and product events on `inventory-orders`) is in `handlers.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.events.catalog import StockChanged
from commerce_platform.events.outbox import record_event
from inventory_service.models import StockItem

SOURCE = "inventory-service"


def stock_changed(item: StockItem, reason: str) -> StockChanged:
    return StockChanged(
        product_id=item.product_id,
        on_hand=item.on_hand,
        reserved=item.reserved,
        available=item.available,
        revision=item.revision,
        reason=reason,
        occurred_at=datetime.now(UTC),
    )


async def record_stock_changed(session: AsyncSession, item: StockItem, reason: str) -> None:
    """Queue StockChanged in the caller's transaction: it is sent only if the change commits."""
    await record_event(session, stock_changed(item, reason), source=SOURCE)
