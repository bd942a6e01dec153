"""One service's database: an SQLAlchemy engine for the ORM paths, and a lean asyncpg pool for the hot
ones (reads, short write transactions, event handlers) in plain SQL.

Each service owns one Postgres schema. Connections set `search_path` to that schema, so models and
migrations never name it and a service cannot stumble into another service's tables (its role has
no grants there either).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def asyncpg_dsn(database_url: str) -> str:
    """`postgresql+asyncpg://...` as asyncpg wants it (plain `postgresql://`)."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(database_url: str) -> str:
    """Accept plain `postgresql://` too, always use the asyncpg driver, and leave `sslmode` out:
    asyncpg takes it as the `ssl` connect argument instead (see `ssl_mode`)."""
    url = make_url(database_url)
    query = {k: v for k, v in url.query.items() if k != "sslmode"}
    return url.set(drivername="postgresql+asyncpg", query=query).render_as_string(hide_password=False)


def ssl_mode(database_url: str) -> str | None:
    """`sslmode` of the URL (RDS Proxy requires `require`), for asyncpg's `ssl` argument."""
    value = make_url(database_url).query.get("sslmode")
    return value if isinstance(value, str) else None


async def _keep_session_state(_connection: asyncpg.Connection) -> None:
    """Skip asyncpg's RESET ALL on release: the pool's users never change session settings (only
    `SET LOCAL` inside a transaction; asyncpg itself rolls back a transaction left open before this
    runs), and the reset round trip costs ~30% of a primary-key read."""


class _BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no type information
    """asyncpg's pool whose `acquire()` waits at most `acquire_timeout` seconds unless the caller
    passes its own. asyncpg waits forever by default: an exhausted pool would queue requests until
    their clients gave up. Bounded here, every `pool.acquire()` in every service fails fast with
    `TimeoutError`, which `errors.py` answers as a 503 the client can retry."""

    __slots__ = ("_acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


class Database:
    """Engine and asyncpg pool for one service schema, created lazily so a process starts (and
    answers /health) even while the database is down.

    The pool holds up to `request_connections + worker_connections`; taking a connection waits at
    most `acquire_timeout` seconds (see `_BoundedPool`), like the engine's `pool_timeout`. Background workers (queue
    consumers, relays, sweepers) take theirs through `transaction(worker=True)` or
    `connection(worker=True)`, at most `worker_connections` at once: however busy they are, they
    leave `request_connections` to the request handlers.
    """

    def __init__(
        self,
        database_url: str,
        *,
        schema: str,
        application_name: str,
        pool_size: int = 10,
        max_overflow: int = 5,
        request_connections: int = 10,
        worker_connections: int = 10,
        acquire_timeout: float = 5.0,
    ) -> None:
        self.database_url = database_url
        self.schema = schema
        self.server_settings: Mapping[str, str] = {
            "search_path": f"{schema},public",
            "application_name": application_name,
        }
        connect_args: dict[str, Any] = {"server_settings": dict(self.server_settings), "timeout": 5}
        if sslmode := ssl_mode(database_url):
            connect_args["ssl"] = sslmode
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(database_url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping: it is a round trip before every checkout-out connection (~10 % of a
            # checkout's CPU in the order and cart services); pool_recycle retires old connections.
            pool_pre_ping=False,
            pool_recycle=1800,
            # Waiting longer than a client would is pointless: fail fast as a 503 the client can retry.
            pool_timeout=acquire_timeout,
            # Errors quote their statement's parameters otherwise, and error logs would then carry
            # emails, password hashes and addresses.
            hide_parameters=True,
            connect_args=connect_args,
        )
        self._pool_size = request_connections + worker_connections
        self._acquire_timeout = acquire_timeout
        # At least one slot: a process that keeps no share for workers may still run one now and then.
        self._worker_slots = asyncio.Semaphore(max(1, worker_connections))
        self._read_pool: asyncpg.Pool | None = None
        self._read_pool_lock = asyncio.Lock()

    async def read_pool(self) -> asyncpg.Pool:
        """The asyncpg pool, for reads and writes alike (a primary-key read at ~4x the ORM's rate).
        For a transaction, prefer `transaction()`."""
        if self._read_pool is None:
            async with self._read_pool_lock:
                if self._read_pool is None:
                    # What `asyncpg.create_pool` does, with the bounded pool class (it takes none).
                    self._read_pool = await _BoundedPool(
                        asyncpg_dsn(self.database_url),
                        acquire_timeout=self._acquire_timeout,
                        min_size=1,
                        max_size=self._pool_size,
                        max_queries=50_000,
                        max_inactive_connection_lifetime=300.0,
                        loop=None,
                        connection_class=asyncpg.Connection,
                        record_class=asyncpg.Record,
                        server_settings=dict(self.server_settings),
                        reset=_keep_session_state,
                        timeout=5,
                    )
        return self._read_pool

    @contextlib.asynccontextmanager
    async def connection(self, *, worker: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pool connection outside any transaction, for statements that are atomic on their own
        (no BEGIN/COMMIT round trips). Background workers pass `worker=True` (see the class)."""
        async with self._worker_slots if worker else contextlib.nullcontext():
            pool = await self.read_pool()
            async with pool.acquire() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self, *, worker: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pool connection inside a transaction: committed when the block ends, rolled back if it
        raises. Background workers pass `worker=True` (see the class). Work on this connection only:
        a second one taken inside the block waits for connections that callers like this one hold,
        possibly forever."""
        async with self.connection(worker=worker) as conn, conn.transaction():
            yield conn

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        pool = await self.read_pool()
        async with pool.acquire() as conn:
            return await conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self.read_pool()
        async with pool.acquire() as conn:
            return list(await conn.fetch(query, *args))

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise if the database does not answer `SELECT 1` within `timeout` seconds."""
        pool = await asyncio.wait_for(self.read_pool(), timeout)
        async with asyncio.timeout(timeout), pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        if self._read_pool is not None:
            await self._read_pool.close()
            self._read_pool = None
        await self.engine.dispose()
