"""Background worker that deletes guest carts past their expiry, with their lines. Anyone can create
a guest cart without signing in, so without it the table grows with every abandoned visit."""

from __future__ import annotations

import asyncio

import structlog
from litestar import Litestar

from cart_service import queries
from cart_service.settings import CartSettings
from commerce_platform.database import Database

log = structlog.get_logger("cart.purge")


async def purge_once(database: Database, batch_size: int) -> int:
    """Delete up to `batch_size` lapsed guest carts; returns how many."""
    async with database.connection(worker=True) as conn:
        status: str = await conn.execute(queries.PURGE_EXPIRED_GUEST_CARTS, batch_size)
    return int(status.rsplit(" ", 1)[-1])  # "DELETE <count>"


async def purge_expired_guest_carts(app: Litestar) -> None:
    """Runs until cancelled; a backlog is worked through batch after batch without pausing."""
    database: Database = app.state["database"]
    settings: CartSettings = app.state["settings"]
    batch_size = settings.guest_cart_purge_batch_size
    while True:
        purged = 0
        try:
            purged = await purge_once(database, batch_size)
            if purged:
                log.info("expired guest carts purged", count=purged)
        except Exception:
            # A failed purge only delays tidying up; try again on the next tick.
            log.exception("purging expired guest carts failed")
        if purged < batch_size:
            await asyncio.sleep(settings.guest_cart_purge_interval_seconds)
