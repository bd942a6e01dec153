"""Tables of the `products` schema: the category tree and the products filed under it."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship


class Category(UUIDv7AuditBase):
    """A node of the category tree. `path` holds the ancestors' slugs then its own; categories never
    move, so the path is written once and a subtree is every row whose path contains the slug."""

    __tablename__ = "category"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("category.id", ondelete="RESTRICT"), default=None)
    path: Mapped[list[str]] = mapped_column(ARRAY(String(64)))


class Product(UUIDv7AuditBase):
    """A sellable item. Soft-deleted rows keep their history (and the events that mention them) but
    are invisible to every public read and free their SKU for reuse."""

    __tablename__ = "product"

    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    category_id: Mapped[UUID] = mapped_column(ForeignKey("category.id", ondelete="RESTRICT"), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Bumped by every change; events carry it so consumers can drop stale or repeated updates.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    # selectin, not joined: a row lock taken on the product must not lock its category too.
    category: Mapped[Category] = relationship(lazy="selectin")


# One live product per SKU whatever its case; deleted products give their SKU back.
Index("uq_product_sku_live", func.lower(Product.sku), unique=True, postgresql_where=Product.deleted_at.is_(None))
