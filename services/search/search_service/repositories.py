"""Writes to the read model: one upsert per event, each guarded by the revision it carries.

Every statement is an `INSERT ... ON CONFLICT DO UPDATE ... WHERE stored revision < new revision`,
so an event applies at most once and never over a newer one, in whatever order events arrive and
however many consumers run. The row lock the upsert takes serialises two events for one product;
the loser re-checks the guard against the winner's committed row. Product and stock halves of a row
keep separate revisions because they come from different services with separate counters.

Plain SQL on the asyncpg connection of the consumer's transaction (see `events.py`).
"""

from __future__ import annotations

import asyncpg
import msgspec

from commerce_platform.events.catalog import ProductDeleted, ProductSnapshot, StockChanged

# Each returns the product id exactly when the row changed. `applied_at` is set by the default on
# insert and by hand on update.
_SNAPSHOT = """
INSERT INTO search_product (product_id, sku, name, description, price_cents, currency, category_slug,
                            category_path, attributes, product_revision, deleted, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, false, $11, $12)
ON CONFLICT (product_id) DO UPDATE SET
    sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
    price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency, category_slug = EXCLUDED.category_slug,
    category_path = EXCLUDED.category_path, attributes = EXCLUDED.attributes,
    product_revision = EXCLUDED.product_revision, deleted = EXCLUDED.deleted,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, applied_at = now()
WHERE search_product.product_revision < EXCLUDED.product_revision
RETURNING product_id
"""

# `<=`: a deletion that carries the same revision as the last update still deletes.
_DELETION = """
INSERT INTO search_product (product_id, sku, product_revision, deleted) VALUES ($1, $2, $3, true)
ON CONFLICT (product_id) DO UPDATE SET
    product_revision = EXCLUDED.product_revision, deleted = EXCLUDED.deleted, applied_at = now()
WHERE search_product.product_revision <= EXCLUDED.product_revision
RETURNING product_id
"""

_STOCK = """
INSERT INTO search_product (product_id, on_hand, reserved, available, stock_revision) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (product_id) DO UPDATE SET
    on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, available = EXCLUDED.available,
    stock_revision = EXCLUDED.stock_revision, applied_at = now()
WHERE search_product.stock_revision < EXCLUDED.stock_revision
RETURNING product_id
"""


async def apply_product_snapshot(conn: asyncpg.Connection, product: ProductSnapshot) -> bool:
    """Insert or replace the product's searchable fields if `product.revision` is newer than what
    is stored; stock already known for it stays. True if the row changed."""
    changed = await conn.fetchval(
        _SNAPSHOT,
        product.product_id,
        product.sku,
        product.name,
        product.description,
        product.price_cents,
        product.currency,
        product.category_slug,
        product.category_path,
        # The pool registers no jsonb codec: asyncpg takes jsonb as its text.
        msgspec.json.encode(product.attributes).decode(),
        product.revision,
        product.created_at,
        product.updated_at,
    )
    return changed is not None


async def apply_product_deletion(conn: asyncpg.Connection, deletion: ProductDeleted) -> bool:
    """Hide the product. When the deletion overtakes the creation, a tombstone row remembers the
    revision, so the late creation (an older revision) cannot bring the product back."""
    changed = await conn.fetchval(_DELETION, deletion.product_id, deletion.sku, deletion.revision)
    return changed is not None


async def apply_stock(conn: asyncpg.Connection, stock: StockChanged) -> bool:
    """Record the stock if `stock.revision` is newer; before the product arrives the row only
    holds stock (unlisted), and the product's upsert later leaves these columns alone."""
    changed = await conn.fetchval(
        _STOCK, stock.product_id, stock.on_hand, stock.reserved, stock.available, stock.revision
    )
    return changed is not None
