"""Bare reference apps (uvicorn factories): a Litestar JSON endpoint, and one asyncpg primary-key row from a pool."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

# The baseline table mirrors the user service's `user_account` columns that GET /v1/users/me reads.
SCHEMA = "bench_baseline"
TABLE = f"{SCHEMA}.account"
CREATE_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {TABLE} (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    full_name text NOT NULL,
    role text NOT NULL,
    phone text,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
ROW_BY_ID = f"SELECT id, email, full_name, role, phone, created_at FROM {TABLE} WHERE id = $1"
DATABASE_URL_ENV = "BENCH_DATABASE_URL"
POOL_SIZE_ENV = "BENCH_POOL_SIZE"


async def seed(dsn: str, rows: int = 1000) -> list[uuid.UUID]:
    """Create and fill the baseline table (idempotent); returns the row ids."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(CREATE_SQL)
        if not await conn.fetchval(f"SELECT count(*) FROM {TABLE}"):
            await conn.executemany(
                f"INSERT INTO {TABLE} (id, email, full_name, role, phone) VALUES ($1, $2, $3, 'customer', NULL)",
                [(uuid.uuid4(), f"user{i}@example.com", f"User {i}") for i in range(rows)],
            )
            await conn.execute(f"ANALYZE {TABLE}")
        return [r["id"] for r in await conn.fetch(f"SELECT id FROM {TABLE} ORDER BY email")]
    finally:
        await conn.close()


@get("/json", sync_to_thread=False)
def hello() -> dict[str, str]:
    return {"status": "ok", "message": "hello"}


def create_json_app() -> Litestar:
    """The cheapest Litestar JSON endpoint: `GET /json`."""
    return Litestar(route_handlers=[hello], debug=False)


@get("/rows/{row_id:uuid}")
async def row(row_id: uuid.UUID, state: State) -> dict[str, Any]:
    pool: asyncpg.Pool = state.pool
    async with pool.acquire() as conn:
        record = await conn.fetchrow(ROW_BY_ID, row_id)
    if record is None:
        raise NotFoundException()
    return dict(record)


@contextlib.asynccontextmanager
async def _pool(app: Litestar) -> AsyncIterator[None]:
    size = int(os.environ.get(POOL_SIZE_ENV, "10"))
    # asyncpg's defaults otherwise (including its RESET ALL on release), as in the reference figure.
    app.state.pool = await asyncpg.create_pool(os.environ[DATABASE_URL_ENV], min_size=size, max_size=size)
    try:
        yield
    finally:
        await app.state.pool.close()


def create_pk_app() -> Litestar:
    """One primary-key row through an asyncpg pool: `GET /rows/{id}` (needs BENCH_DATABASE_URL)."""
    return Litestar(route_handlers=[row], lifespan=[_pool], debug=False)
