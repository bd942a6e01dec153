"""Background worker that expires holds past their expiry: marks them expired, frees their units
and announces the new levels. Reads and new reservations already ignore such holds; the sweep keeps
the rows and the published stock levels honest."""

from __future__ import annotations

from litestar import Litestar

from commerce_platform.database import Database
from commerce_platform.periodic import run_in_batches
from inventory_service.ledger import StockLedger
from inventory_service.settings import InventorySettings


async def sweep_once(database: Database, batch_size: int) -> int:
    """Expire up to `batch_size` holds in one transaction; returns how many."""
    async with database.transaction(worker=True) as conn:
        ledger = StockLedger(conn)
        swept = await ledger.sweep_expired(batch_size)
        await ledger.finish()
        return swept


async def sweep_expired_reservations(app: Litestar) -> None:
    """Runs until cancelled; a backlog is worked through batch after batch without pausing."""
    database: Database = app.state["database"]
    settings: InventorySettings = app.state["settings"]
    batch_size = settings.reservation_sweep_batch_size
    await run_in_batches(
        lambda: sweep_once(database, batch_size), batch_size=batch_size,
        interval_seconds=settings.reservation_sweep_interval_seconds, what="sweep of expired reservations",
    )
