"""What the inventory service publishes: StockChanged, written to the outbox with the change itself.

What it consumes (order and product events on `inventory-orders`) is in `handlers.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from commerce_platform.events import outbox
from commerce_platform.events.catalog import EventData, StockChanged
from commerce_platform.events.outbox import OutboxRow

if TYPE_CHECKING:
    from inventory_service.ledger import StockRow

SOURCE = "inventory-service"


def stock_changed(item: StockRow, reason: str) -> StockChanged:
    return StockChanged(
        product_id=item.product_id,
        on_hand=item.on_hand,
        reserved=item.reserved,
        available=item.available,
        revision=item.revision,
        reason=reason,
        occurred_at=datetime.now(UTC),
        available_changed=item.available != item.announced_available,
    )


def outbox_row(data: EventData) -> OutboxRow:
    """The outbox row for `data`, for the ledger's plain-SQL insert in the caller's transaction:
    it is sent only if the change commits."""
    return outbox.outbox_row(data, source=SOURCE)[1]
