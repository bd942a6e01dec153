"""The asyncpg pool's shares: background workers never hold the connections request handlers need."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from commerce_platform.database import Database

pytestmark = pytest.mark.stack


async def test_busy_workers_leave_the_request_connections_free(stack: Any) -> None:
    database = Database(
        stack.admin_database_url,
        schema="public",
        application_name="pool-tests",
        request_connections=1,
        worker_connections=2,
    )
    release = asyncio.Event()
    started = 0

    async def worker() -> None:
        nonlocal started
        async with database.transaction(worker=True) as conn:
            started += 1
            await conn.execute("SELECT 1")
            await release.wait()

    workers = [asyncio.create_task(worker()) for _ in range(3)]
    try:
        await asyncio.sleep(0.5)
        assert started == 2  # the third waits for a worker slot, not for the requests' connection
        async with asyncio.timeout(2), database.transaction() as conn:
            assert await conn.fetchval("SELECT 1") == 1
        release.set()
        await asyncio.wait_for(asyncio.gather(*workers), 5)
        assert started == 3
    finally:
        release.set()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await database.close()


async def test_engine_errors_do_not_quote_their_parameters(stack: Any) -> None:
    # Error logs of the ORM path would otherwise carry emails, password hashes and addresses.
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    database = Database(stack.admin_database_url, schema="public", application_name="pool-tests")
    try:
        async with database.engine.connect() as conn:
            with pytest.raises(DBAPIError) as raised:
                await conn.execute(text("SELECT CAST(:secret AS text), 1 / 0"), {"secret": "hunter2-secret"})
        assert "hunter2-secret" not in str(raised.value)
    finally:
        await database.close()
