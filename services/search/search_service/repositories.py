"""Writes to the read model: one upsert per event, each guarded by the revision it carries.

Every statement is an `INSERT ... ON CONFLICT DO UPDATE ... WHERE stored revision < new revision`,
so an event applies at most once and never over a newer one, in whatever order events arrive and
however many consumers run. The row lock the upsert takes serialises two events for one product;
the loser re-checks the guard against the winner's committed row. Product and stock halves of a row
keep separate revisions because they come from different services with separate counters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.events.catalog import ProductDeleted, ProductSnapshot, StockChanged
from search_service.models import SearchProduct

_PRODUCT_COLUMNS = (
    "sku",
    "name",
    "description",
    "price_cents",
    "currency",
    "category_slug",
    "category_path",
    "attributes",
    "product_revision",
    "deleted",
    "created_at",
    "updated_at",
)
_STOCK_COLUMNS = ("on_hand", "reserved", "available", "stock_revision")


async def apply_product_snapshot(session: AsyncSession, product: ProductSnapshot) -> bool:
    """Insert or replace the product's searchable fields if `product.revision` is newer than what
    is stored; stock already known for it stays. True if the row changed."""
    statement = insert(SearchProduct).values(
        product_id=product.product_id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price_cents=product.price_cents,
        currency=product.currency,
        category_slug=product.category_slug,
        category_path=list(product.category_path),
        attributes=dict(product.attributes),
        product_revision=product.revision,
        deleted=False,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
    return await _upsert(
        session, statement, _PRODUCT_COLUMNS, SearchProduct.product_revision < statement.excluded.product_revision
    )


async def apply_product_deletion(session: AsyncSession, deletion: ProductDeleted) -> bool:
    """Hide the product. When the deletion overtakes the creation, a tombstone row remembers the
    revision, so the late creation (an older revision) cannot bring the product back."""
    statement = insert(SearchProduct).values(
        product_id=deletion.product_id,
        sku=deletion.sku,
        product_revision=deletion.revision,
        deleted=True,
    )
    # `<=`: a deletion that carries the same revision as the last update still deletes.
    return await _upsert(
        session,
        statement,
        ("product_revision", "deleted"),
        SearchProduct.product_revision <= statement.excluded.product_revision,
    )


async def apply_stock(session: AsyncSession, stock: StockChanged) -> bool:
    """Record the stock if `stock.revision` is newer; before the product arrives the row only
    holds stock (unlisted), and the product's upsert later leaves these columns alone."""
    statement = insert(SearchProduct).values(
        product_id=stock.product_id,
        on_hand=stock.on_hand,
        reserved=stock.reserved,
        available=stock.available,
        stock_revision=stock.revision,
    )
    return await _upsert(
        session, statement, _STOCK_COLUMNS, SearchProduct.stock_revision < statement.excluded.stock_revision
    )


async def _upsert(session: AsyncSession, statement: Insert, columns: tuple[str, ...], newer: Any) -> bool:
    values: dict[str, Any] = {name: statement.excluded[name] for name in columns}
    values["applied_at"] = func.now()
    upsert = statement.on_conflict_do_update(
        index_elements=[SearchProduct.product_id], set_=values, where=newer
    ).returning(SearchProduct.product_id)
    result = await session.execute(upsert)
    return result.first() is not None
