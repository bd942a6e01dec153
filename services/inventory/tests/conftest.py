"""Fixtures for the inventory service's tests: HTTP clients for the running service (anonymous,
admin, customer, internal), stock set up through the API, and direct access to the service's schema.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Every test uses fresh uuid product ids, so tests share no state and run in any order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest

from commerce_platform.database import Database
from commerce_platform.testing import Client, Reply, schema_database, schema_pool


@dataclass
class Inventory:
    """The API calls tests repeat: stock a product as admin, read a level, reserve through the
    internal API."""

    admin: Client
    internal: Client

    async def stock(self, on_hand: int, product_id: str | None = None) -> str:
        product_id = product_id or str(uuid.uuid4())
        (await self.admin.call("PUT", f"/v1/inventory/{product_id}", json={"on_hand": on_hand})).ok(200)
        return product_id

    async def level(self, product_id: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self.admin.call("GET", f"/v1/inventory/{product_id}")).ok(200)
        return body

    async def reserve(
        self,
        lines: dict[str, int] | list[tuple[str, int]],
        *,
        ttl: int | None = None,
        reservation_id: str | None = None,
    ) -> Reply:
        pairs = list(lines.items()) if isinstance(lines, dict) else lines
        body: dict[str, Any] = {
            "reservation_id": reservation_id or str(uuid.uuid4()),
            "lines": [{"product_id": p, "quantity": q} for p, q in pairs],
        }
        if ttl is not None:
            body["ttl_seconds"] = ttl
        return await self.internal.call("POST", "/internal/v1/reservations", json=body)

    async def commit(self, reservation_id: str) -> Reply:
        return await self.internal.call("POST", f"/internal/v1/reservations/{reservation_id}/commit")

    async def pin(self, reservation_id: str) -> Reply:
        return await self.internal.call("POST", f"/internal/v1/reservations/{reservation_id}/pin")

    async def release(self, reservation_id: str) -> Reply:
        return await self.internal.call("POST", f"/internal/v1/reservations/{reservation_id}/release")

    async def reservation(self, reservation_id: str) -> Reply:
        return await self.internal.call("GET", f"/internal/v1/reservations/{reservation_id}")


@pytest.fixture
def public(stack: Any, http: aiohttp.ClientSession) -> Client:
    """An anonymous caller of the inventory service."""
    return Client(http, stack.service_url("inventory"))


@pytest.fixture
def internal(public: Client) -> Client:
    """Another service calling `/internal/...` from inside the network (no token)."""
    return public


@pytest.fixture
def admin(public: Client, admin_token: str) -> Client:
    return public.as_(admin_token)


@pytest.fixture
def customer(public: Client, customer_token: str) -> Client:
    return public.as_(customer_token)


@pytest.fixture
def inventory(admin: Client, internal: Client) -> Inventory:
    return Inventory(admin, internal)


@pytest.fixture(scope="session")
async def inventory_db(stack: Any) -> AsyncIterator[asyncpg.Pool]:
    """Administrator connections with the service's search_path, to look at what it committed."""
    async with schema_pool(stack.admin_database_url, "inventory") as pool:
        yield pool


@pytest.fixture(scope="session")
async def inventory_database(stack: Any) -> AsyncIterator[Database]:
    """The service's own `Database` over the administrator's login: for running the service's code
    (event handlers, the ledger) directly against the real schema."""
    async with schema_database(stack.admin_database_url, "inventory") as database:
        yield database


StockEvents = Callable[[str], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def stock_events(inventory_db: asyncpg.Pool) -> StockEvents:
    """Committed StockChanged payloads for one product from the outbox, in revision order."""

    async def events(product_id: str) -> list[dict[str, Any]]:
        records = await inventory_db.fetch(
            """
            SELECT payload FROM outbox
            WHERE event_type = 'StockChanged'
              AND convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'product_id' = $1
            ORDER BY (convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'revision')::int
            """,
            product_id,
        )
        return [msgspec.json.decode(r["payload"])["data"] for r in records]

    return events


Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
def eventually() -> Eventually:
    """Poll `probe` until `accept(result)` holds or `timeout` passes; returns the accepted result."""

    async def wait(probe: Callable[[], Awaitable[Any]], accept: Callable[[Any], bool], *, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = await probe()
            if accept(result):
                return result
            assert time.monotonic() < deadline, f"condition not met within {timeout}s; last: {result!r}"
            await asyncio.sleep(0.1)

    return wait
