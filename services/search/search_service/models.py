"""The `search` schema: a searchable copy of every product kept current by events, and its facet counts."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, Computed, DateTime, Integer, SmallInteger, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Metadata of the read model only; the migration in `migrations/versions/` is the source of truth."""


class SearchProduct(Base):
    """One product as search sees it, keyed by the product service's id.

    A row can exist before its product does: stock may arrive first (the stock columns fill, the
    product columns keep their empty defaults) and a deletion may overtake the creation (a tombstone).
    `listed` says whether the row is a live product; every query filters on it. Each half of the
    row keeps the highest revision it applied, so stale or repeated events change nothing.
    """

    __tablename__ = "search_product"

    product_id: Mapped[UUID] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(Text, server_default="")
    name: Mapped[str] = mapped_column(Text, server_default="")
    description: Mapped[str] = mapped_column(Text, server_default="")
    price_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    currency: Mapped[str] = mapped_column(Text, server_default="")
    category_slug: Mapped[str] = mapped_column(Text, server_default="")
    # Ancestors first, the product's own category last: a subtree filter is `category_path @> {slug}`.
    category_path: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # 0 until a product event arrives; a deletion stores its own revision so older updates stay out.
    product_revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # As of the last StockChanged that moved `available`: the queue's subscription filters out the
    # ones that did not (a sale), so on_hand and reserved may lag; nothing here shows them.
    on_hand: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, server_default="0")
    available: Mapped[int] = mapped_column(Integer, server_default="0")
    stock_revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # The product's own timestamps (null while only stock is known); `newest` sorts by created_at.
    created_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    # When this row last changed here: the end of the event lag the benchmark measures.
    applied_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    in_stock: Mapped[bool] = mapped_column(Boolean, Computed("available > 0", persisted=True))
    # Which fixed price band (search_service.price_bands) the price falls in: 0..5.
    price_band: Mapped[int] = mapped_column(
        SmallInteger,
        Computed("width_bucket(price_cents, '{1000,2500,5000,10000,25000}'::bigint[])::smallint", persisted=True),
    )
    listed: Mapped[bool] = mapped_column(Boolean, Computed("product_revision > 0 AND NOT deleted", persisted=True))
    # Derived by the `search_product_derive` trigger (migration 0004) when the product's text changes,
    # not generated columns: PostgreSQL recomputes those on every update, stock changes included.
    # The unaccented name the typo fallback compares by trigram word similarity.
    search_name: Mapped[str] = mapped_column(Text)
    # search_document(name, sku, category_path, description, attributes): the full-text vector.
    document: Mapped[str] = mapped_column(TSVECTOR)


class SearchFacetCount(Base):
    """How many listed products share one category path, price band and in-stock flag: the totals
    and facets of browsing, kept exact by a trigger on `search_product` (see migration 0001)."""

    __tablename__ = "search_facet_count"

    category_path: Mapped[list[str]] = mapped_column(ARRAY(Text), primary_key=True)
    price_band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    in_stock: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    products: Mapped[int] = mapped_column(BigInteger)
