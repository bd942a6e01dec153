"""The hot read path: a product's stock level in one lean asyncpg query, no ORM."""

from __future__ import annotations

from uuid import UUID

from commerce_platform.database import Database
from inventory_service.schemas import StockLevel

# Holds past their expiry stop counting at once, before the sweeper gets to them; the partial index
# on live holds keeps that correction to a lookup of the (few) expired-but-unswept reservations.
STOCK_LEVEL_SQL = """
SELECT s.on_hand,
       s.reserved - COALESCE((
           SELECT sum(l.quantity)
           FROM reservation r
           JOIN reservation_line l ON l.reservation_id = r.id AND l.product_id = s.product_id
           WHERE r.status = 'held' AND r.expires_at <= now()
       ), 0) AS reserved
FROM stock_item s
WHERE s.product_id = $1 AND s.discontinued_at IS NULL
"""


async def read_stock_level(database: Database, product_id: UUID) -> StockLevel | None:
    """None for a product without stock record, or one that was deleted from the catalogue."""
    row = await database.fetchrow(STOCK_LEVEL_SQL, product_id)
    if row is None:
        return None
    on_hand, reserved = row["on_hand"], int(row["reserved"])
    return StockLevel(product_id=product_id, on_hand=on_hand, reserved=reserved, available=on_hand - reserved)
