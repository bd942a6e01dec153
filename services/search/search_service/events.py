"""Handlers of the events on the `search-products` queue (product-events and inventory-events).

Each runs inside the consumer's transaction, on the asyncpg connection it is given, together with
the inbox row of its event id, so a redelivered event is skipped before it gets here; the revision
guards in `repositories` handle the rest (events overtaking each other, or the same change
published twice under different ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import asyncpg
import structlog

from commerce_platform.events.catalog import EventData, ProductDeleted, ProductSnapshot, StockChanged
from commerce_platform.events.consumer import Handler
from commerce_platform.events.envelope import Envelope
from search_service.repositories import apply_product_deletion, apply_product_snapshot, apply_stock

SEARCH_QUEUE = "search-products"

log = structlog.get_logger("search.events")

EventT = TypeVar("EventT", bound=EventData)


async def on_product_changed(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """ProductCreated and ProductUpdated carry the whole product: index it unless we hold newer."""
    product = _expect(data, ProductSnapshot)
    applied = await apply_product_snapshot(conn, product)
    _log_outcome(envelope, applied, product_id=str(product.product_id), revision=product.revision)


async def on_product_deleted(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """Take the product out of every result."""
    deletion = _expect(data, ProductDeleted)
    applied = await apply_product_deletion(conn, deletion)
    _log_outcome(envelope, applied, product_id=str(deletion.product_id), revision=deletion.revision)


async def on_stock_changed(conn: asyncpg.Connection, envelope: Envelope, data: EventData) -> None:
    """Refresh on hand and available (and so `in_stock`), even before the product is known."""
    stock = _expect(data, StockChanged)
    applied = await apply_stock(conn, stock)
    _log_outcome(envelope, applied, product_id=str(stock.product_id), revision=stock.revision)


HANDLERS: Mapping[str, Handler] = {
    "ProductCreated": on_product_changed,
    "ProductUpdated": on_product_changed,
    "ProductDeleted": on_product_deleted,
    "StockChanged": on_stock_changed,
}


def _expect(data: EventData, kind: type[EventT]) -> EventT:
    # The consumer decodes by the envelope's type, so a mismatch is a wiring bug, not bad input.
    if not isinstance(data, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


def _log_outcome(envelope: Envelope, applied: bool, **fields: object) -> None:
    if not applied:
        # Expected with out-of-order delivery; worth seeing when chasing a stale search result.
        log.info("stale event ignored: the read model holds a newer revision", event_type=envelope.type, **fields)
