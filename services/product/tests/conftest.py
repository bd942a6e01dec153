"""Fixtures for the product service's tests: an HTTP client for the running service, admin and
customer tokens from the real user service, fresh categories and products, and the outbox.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Every test creates its own categories and products with uuid-suffixed slugs and SKUs,
so tests share no state and run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest

from commerce_platform.database import asyncpg_dsn
from commerce_platform.testing import Client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Catalog:
    """Builds the categories and products a test needs, as the admin."""

    admin: Client

    async def category(self, name: str = "Category", parent: str | None = None, slug: str | None = None) -> str:
        body: dict[str, Any] = {"slug": slug or unique("cat"), "name": name}
        if parent is not None:
            body["parent_slug"] = parent
        created = (await self.admin.call("POST", "/v1/categories", json=body)).ok(201)
        return str(created["slug"])

    def product_body(self, in_category: str, /, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sku": unique("SKU").upper(),
            "name": "Trail runner",
            "description": "A light shoe for rough ground.",
            "price_cents": 4999,
            "currency": "EUR",
            "category": in_category,
            "attributes": {"color": "red", "size": 42, "waterproof": True, "weight_kg": 0.31},
        }
        body.update(overrides)
        return body

    async def product(self, in_category: str, /, **overrides: Any) -> dict[str, Any]:
        created: dict[str, Any] = (
            await self.admin.call("POST", "/v1/products", json=self.product_body(in_category, **overrides))
        ).ok(201)
        return created


@pytest.fixture
def public(stack: Any, http: aiohttp.ClientSession) -> Client:
    """An anonymous caller of the product service."""
    return Client(http, stack.service_url("product"))


@pytest.fixture
def admin(public: Client, admin_token: str) -> Client:
    return public.as_(admin_token)


@pytest.fixture
def customer(public: Client, customer_token: str) -> Client:
    return public.as_(customer_token)


@pytest.fixture
def catalog(admin: Client) -> Catalog:
    return Catalog(admin)


@pytest.fixture
def new_slug() -> Callable[[str], str]:
    return unique


@pytest.fixture(scope="session")
async def products_db(stack: Any) -> AsyncIterator[asyncpg.Connection]:
    """An administrator connection, for looking at what the service committed (its outbox)."""
    conn = await asyncpg.connect(asyncpg_dsn(stack.admin_database_url))
    try:
        yield conn
    finally:
        await conn.close()


OutboxRows = Callable[[str], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def outbox_rows(products_db: asyncpg.Connection) -> OutboxRows:
    """Committed outbox envelopes that mention one product, oldest first."""

    async def rows(product_id: str) -> list[dict[str, Any]]:
        records = await products_db.fetch(
            """
            SELECT event_type, topic, payload FROM products.outbox
            WHERE convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'product_id' = $1
            ORDER BY (convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'revision')::int
            """,
            product_id,
        )
        return [
            {"event_type": r["event_type"], "topic": r["topic"], "envelope": msgspec.json.decode(r["payload"])}
            for r in records
        ]

    return rows
