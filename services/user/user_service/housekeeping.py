"""Background clean-up: drop login-throttle windows and refresh tokens that can no longer matter."""

from __future__ import annotations

import asyncio

import structlog
from litestar import Litestar
from sqlalchemy import text

from commerce_platform.database import Database
from user_service.settings import UserSettings

log = structlog.get_logger("user.housekeeping")
INTERVAL_SECONDS = 3600.0

# A used or revoked refresh token is kept until it expires, because presenting it again is how
# theft is detected; after that it is only a row. Throttle windows that have closed count nothing.
_PURGE = (
    text("DELETE FROM refresh_token WHERE expires_at < now() - interval '1 day'"),
    text("DELETE FROM login_throttle WHERE window_started_at < now() - make_interval(secs => :window)"),
)


async def purge_expired(database: Database, *, window_seconds: int) -> None:
    async with database.engine.begin() as conn:
        for statement in _PURGE:
            await conn.execute(statement, {"window": float(window_seconds)})


async def housekeeping_worker(app: Litestar) -> None:
    """Runs in worker mode every hour; every replica may run it, the deletes are idempotent."""
    database: Database = app.state["database"]
    settings: UserSettings = app.state["settings"]
    while True:
        try:
            await purge_expired(database, window_seconds=settings.login_failure_window_seconds)
        except Exception:
            # The next round retries; a failed purge only leaves dead rows a little longer.
            log.exception("housekeeping failed")
        await asyncio.sleep(INTERVAL_SECONDS)
