"""Infrastructure failures are 503 problems with Retry-After, not 500s: database contention (deadlock,
serialization), overload (too many connections, an exhausted pool) and a database out of reach. The
request was fine; the same request succeeds on a retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncpg import exceptions as pg
from litestar import get
from litestar.testing import AsyncTestClient

from commerce_platform.database import Database
from commerce_platform.devstack.processes import free_port
from commerce_platform.service_app import ServiceApp, ServiceDefinition, create_service_app
from commerce_platform.settings import PlatformSettings

FAILURES: dict[str, BaseException] = {
    "deadlock": pg.DeadlockDetectedError("deadlock detected DETAIL: Process 1 waits for ShareLock"),
    "serialization": pg.SerializationError("could not serialize access due to concurrent update"),
    "too-many-connections": pg.TooManyConnectionsError("sorry, too many clients already"),
    "connection-lost": pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    "starting-up": pg.CannotConnectNowError("the database system is starting up"),
    "refused": ConnectionRefusedError(111, "Connect call failed ('10.0.0.7', 5432)"),
    "every-address-refused": OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    "pool-timeout": TimeoutError(),
    # The request's fault: text Postgres cannot store.
    "nul-character": pg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
    # Not infrastructure: bugs stay 500s.
    "unique-violation": pg.UniqueViolationError("duplicate key value violates unique constraint uq_secret"),
    "missing-file": FileNotFoundError(2, "No such file or directory", "/etc/secret.conf"),
}


@get("/v1/users/fail/{kind:str}", operation_id="fail")
async def fail(kind: str) -> None:
    raise FAILURES[kind]


@get("/v1/users/database", operation_id="queryDatabase")
async def query_database(database: Database) -> int:
    row = await database.fetchrow("SELECT 1")
    return int(row[0]) if row else 0


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[ServiceApp]]:
    # The database URL points at a closed port: "the database is down", for real.
    settings = PlatformSettings(
        database_url=f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/none",
        run_migrations_on_start=False,
        access_log=False,
    )
    app = create_service_app(
        ServiceDefinition(name="user", route_handlers=[fail, query_database], migrations_dir=tmp_path),
        settings=settings,
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("kind", "problem_type"),
    [
        ("deadlock", "contention"),
        ("serialization", "contention"),
        ("too-many-connections", "overloaded"),
        ("pool-timeout", "overloaded"),
        ("connection-lost", "database-unavailable"),
        ("starting-up", "database-unavailable"),
        ("refused", "dependency-unavailable"),
        ("every-address-refused", "dependency-unavailable"),
    ],
)
async def test_infrastructure_failures_are_503_problems_with_retry_after(
    client: AsyncTestClient[ServiceApp], kind: str, problem_type: str
) -> None:
    response = await client.get(f"/v1/users/fail/{kind}")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["type"] == f"https://errors.commerce.dev/{problem_type}"
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    # The database's own words (SQL, constraint names, addresses) never reach the client.
    for secret in ("DETAIL", "Process", "10.0.0.7", "Errno", "clients"):
        assert secret not in response.text


@pytest.mark.parametrize("kind", ["unique-violation", "missing-file"])
async def test_other_database_and_os_errors_stay_500s(client: AsyncTestClient[ServiceApp], kind: str) -> None:
    response = await client.get(f"/v1/users/fail/{kind}")
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert "secret" not in response.text


async def test_text_the_database_cannot_store_is_a_400(client: AsyncTestClient[ServiceApp]) -> None:
    response = await client.get("/v1/users/fail/nul-character")
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "https://errors.commerce.dev/unstorable-text"
    assert "0x00" not in response.text


async def test_a_database_that_is_down_is_a_503(client: AsyncTestClient[ServiceApp]) -> None:
    response = await client.get("/v1/users/database")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"


@pytest.mark.stack
async def test_an_exhausted_pool_fails_fast_instead_of_queueing(stack: Any) -> None:
    database = Database(
        stack.admin_database_url,
        schema="public",
        application_name="pool-timeout-tests",
        request_connections=1,
        worker_connections=0,
        acquire_timeout=0.2,
    )
    try:
        pool = await database.read_pool()
        async with pool.acquire() as busy:
            await busy.execute("SELECT 1")
            started = time.monotonic()
            # Without a bound, this waits for `busy` forever; the outer timeout only ends the test.
            async with asyncio.timeout(3):
                with pytest.raises(TimeoutError):
                    async with pool.acquire():
                        pass
                with pytest.raises(TimeoutError):
                    await database.fetch("SELECT 1")
            assert time.monotonic() - started < 1.5
            # A caller's own timeout still wins over the default.
            with pytest.raises(TimeoutError):
                await pool.acquire(timeout=0.05)
        # Once the connection is back, the pool serves again.
        assert (await database.fetch("SELECT 1"))[0][0] == 1
    finally:
        await database.close()
