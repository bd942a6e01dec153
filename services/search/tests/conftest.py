"""Fixtures of the search tests: events through the real handlers, the read model, the HTTP API.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Events go through `HANDLERS` inside a real transaction with the inbox row, exactly as
the queue consumer runs them, into the stack's `search` schema. Every test invents its own product
ids and category slugs (a random token), and every query filters on them, so tests share no state
with each other or with the products other suites create.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest

from commerce_platform.database import Database
from commerce_platform.events.catalog import (
    EventData,
    ProductCreated,
    ProductDeleted,
    ProductUpdated,
    StockChanged,
)
from commerce_platform.events.consumer import apply_event
from commerce_platform.events.envelope import Envelope, new_envelope
from commerce_platform.testing import schema_database
from search_service.events import HANDLERS

PROBLEM_JSON = "application/problem+json"
# Not the real consumer's name: these inbox records must never hide a real event from it.
TEST_CONSUMER = "search-tests"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def token() -> str:
    """A made-up word (letters only, so the text parser keeps it whole) no other test uses."""
    return "zq" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


@dataclass
class ReadModel:
    """Applies events as the consumer does and reads back what the read model holds."""

    database: Database

    async def deliver(self, envelope: Envelope, data: EventData) -> bool:
        """One delivery: inbox claim and handler in one transaction; False if the id was seen before."""
        return await apply_event(self.database, TEST_CONSUMER, HANDLERS[envelope.type], envelope, data)

    async def apply(self, *events: EventData) -> list[Envelope]:
        """Publish-and-deliver each event once, in the given order."""
        envelopes = []
        for data in events:
            envelope = new_envelope(data, source="search-tests")
            assert await self.deliver(envelope, data)
            envelopes.append(envelope)
        return envelopes

    async def row(self, product_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.database.fetchrow("SELECT * FROM search_product WHERE product_id = $1", product_id)

    async def facet_counts(self, root: str) -> dict[tuple[tuple[str, ...], int, bool], int]:
        """What `search_facet_count` says about the products under category `root` (non-zero rows)."""
        rows = await self.database.fetch(
            "SELECT category_path, price_band, in_stock, products FROM search_facet_count "
            "WHERE category_path @> ARRAY[$1] AND products <> 0",
            root,
        )
        return {(tuple(r["category_path"]), r["price_band"], r["in_stock"]): r["products"] for r in rows}

    async def counted_by_hand(self, root: str) -> dict[tuple[tuple[str, ...], int, bool], int]:
        """The same numbers counted from the listed products themselves."""
        rows = await self.database.fetch(
            "SELECT category_path, price_band, in_stock, count(*) AS products FROM search_product "
            "WHERE listed AND category_path @> ARRAY[$1] GROUP BY 1, 2, 3",
            root,
        )
        return {(tuple(r["category_path"]), r["price_band"], r["in_stock"]): r["products"] for r in rows}

    async def document_weights(self, product_id: uuid.UUID) -> dict[str, set[str]]:
        """Each lexeme of the product's search document with the weights (A-D) it carries."""
        rows = await self.database.fetch(
            "SELECT d.lexeme, d.weights FROM search_product, unnest(document) AS d "
            "WHERE product_id = $1",
            product_id,
        )
        return {row["lexeme"]: {str(w) for w in row["weights"]} for row in rows}


@dataclass
class CatalogEvents:
    """Builds product and stock events with sensible defaults."""

    def created(self, product_id: uuid.UUID | None = None, **fields: Any) -> ProductCreated:
        return ProductCreated(**self._snapshot(product_id, fields))

    def updated(self, product_id: uuid.UUID, **fields: Any) -> ProductUpdated:
        return ProductUpdated(**self._snapshot(product_id, fields))

    def deleted(self, product_id: uuid.UUID, *, revision: int, sku: str = "SKU") -> ProductDeleted:
        return ProductDeleted(product_id=product_id, sku=sku, revision=revision, deleted_at=datetime.now(UTC))

    def stock(self, product_id: uuid.UUID, *, on_hand: int, reserved: int = 0, revision: int) -> StockChanged:
        return StockChanged(
            product_id=product_id,
            on_hand=on_hand,
            reserved=reserved,
            available=on_hand - reserved,
            revision=revision,
            reason="test",
            occurred_at=datetime.now(UTC),
        )

    @staticmethod
    def _snapshot(product_id: uuid.UUID | None, fields: dict[str, Any]) -> dict[str, Any]:
        path: list[str] = fields.pop("category_path", None) or ["misc"]
        created_at: datetime = fields.pop("created_at", EPOCH)
        snapshot: dict[str, Any] = {
            "product_id": product_id or uuid.uuid4(),
            "sku": f"SKU-{uuid.uuid4().hex[:10].upper()}",
            "name": "Thing",
            "description": "",
            "price_cents": 1000,
            "currency": "EUR",
            "category_slug": path[-1],
            "category_path": path,
            "attributes": {},
            "revision": 1,
            "created_at": created_at,
            "updated_at": created_at + timedelta(minutes=1),
        }
        snapshot.update(fields)
        return snapshot


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    def ok(self) -> Any:
        assert self.status == 200, (self.status, self.body)
        return self.body

    def problem(self, status: int) -> dict[str, Any]:
        """Assert this is an RFC 9457 problem with `status`, and return its body."""
        assert self.status == status, (self.status, self.body)
        assert self.headers.get("content-type", "").startswith(PROBLEM_JSON), self.headers
        assert self.body["status"] == status
        assert isinstance(self.body["detail"], str) and self.body["detail"]
        return dict(self.body)


@dataclass
class SearchApi:
    http: aiohttp.ClientSession
    base_url: str

    async def get(self, params: list[tuple[str, str]] | dict[str, Any]) -> Reply:
        """`GET /v1/search`; a list of pairs allows repeated parameters."""
        query = list(params.items()) if isinstance(params, dict) else params
        sent = [(key, str(value).lower() if isinstance(value, bool) else str(value)) for key, value in query]
        async with self.http.get(f"{self.base_url}/v1/search", params=sent) as resp:
            raw = await resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, msgspec.json.decode(raw))

    async def search(self, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = (await self.get(params)).ok()
        return body


@pytest.fixture(scope="session")
async def search_database(stack: Any) -> AsyncIterator[Database]:
    """The stack's `search` schema (migrated by the running service), as the administrator."""
    async with schema_database(stack.admin_database_url, "search") as database:
        yield database


@pytest.fixture(scope="session")
def read_model(search_database: Database) -> ReadModel:
    return ReadModel(search_database)


@pytest.fixture(scope="session")
def events() -> CatalogEvents:
    return CatalogEvents()


@pytest.fixture(scope="session")
def search_api(stack: Any, http: aiohttp.ClientSession) -> SearchApi:
    return SearchApi(http, stack.service_url("search"))


@pytest.fixture(scope="session")
def new_token() -> Any:
    return token
