"""Background worker that deletes guest carts past their expiry, with their lines. Anyone can create
a guest cart without signing in, so without it the table grows with every abandoned visit."""

from __future__ import annotations

from litestar import Litestar

from cart_service import queries
from cart_service.settings import CartSettings
from commerce_platform.database import Database
from commerce_platform.periodic import run_in_batches


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
    await run_in_batches(
        lambda: purge_once(database, batch_size), batch_size=batch_size,
        interval_seconds=settings.guest_cart_purge_interval_seconds, what="purge of expired guest carts",
    )
