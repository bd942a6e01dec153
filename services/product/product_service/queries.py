"""Lean asyncpg reads for the public hot paths: one SQL statement each, rows straight into msgspec
structs. The ORM costs about 75% of a primary-key read's throughput, so nothing here touches it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from commerce_platform.database import Database
from product_service.schemas import CategoryNode, ProductPage, ProductPrice, ProductView

SortField = Literal["name", "price", "created_at"]
SortOrder = Literal["asc", "desc"]
# Every sort ends on the id, so equal names or prices still page deterministically.
_SORT_COLUMNS: dict[str, str] = {"name": "p.name", "price": "p.price_cents", "created_at": "p.created_at"}

_PRODUCT_COLUMNS = """
    p.id, p.sku, p.name, p.description, p.price_cents, p.currency, c.slug, c.path,
    p.attributes, p.revision, p.created_at, p.updated_at
"""
_PRODUCT_BY_ID = f"""
    SELECT {_PRODUCT_COLUMNS}
    FROM product p JOIN category c ON c.id = p.category_id
    WHERE p.id = $1 AND p.deleted_at IS NULL
"""  # noqa: S608 (constant text)
_PRICES_BY_IDS = """
    SELECT id, sku, name, price_cents, currency, deleted_at IS NULL AS active, revision
    FROM product WHERE id = ANY($1::uuid[])
"""
# Parents before children (by depth), siblings by name.
_CATEGORIES = "SELECT slug, name, path FROM category ORDER BY cardinality(path), name, slug"
_CATEGORY_SUBTREE = """
    SELECT slug, name, path FROM category WHERE path @> ARRAY[$1]::varchar[]
    ORDER BY cardinality(path), name, slug
"""

_decode_attributes = msgspec.json.Decoder(dict[str, Any]).decode


def _product_view(row: asyncpg.Record) -> ProductView:
    # asyncpg hands jsonb over as text (no codec is registered on the shared read pool).
    return ProductView(
        id=row[0],
        sku=row[1],
        name=row[2],
        description=row[3],
        price_cents=row[4],
        currency=row[5],
        category=row[6],
        category_path=row[7],
        attributes=_decode_attributes(row[8]),
        revision=row[9],
        created_at=row[10],
        updated_at=row[11],
    )


async def product_by_id(database: Database, product_id: UUID) -> ProductView | None:
    """A live product, or None when it never existed or was deleted."""
    row = await database.fetchrow(_PRODUCT_BY_ID, product_id)
    return None if row is None else _product_view(row)


async def prices_by_ids(database: Database, product_ids: Sequence[UUID]) -> list[ProductPrice]:
    """Current price facts of every known id, deleted ones included (marked inactive)."""
    rows = await database.fetch(_PRICES_BY_IDS, list(product_ids))
    return [ProductPrice(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """The public list's filters; None means "not filtered on"."""

    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    name_contains: str | None = None
    sku: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause with numbered placeholders, and its arguments."""
        clauses = ["p.deleted_at IS NULL"]
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.category is not None:
            # The category and everything below it: their paths contain its slug.
            subtree = f"SELECT id FROM category WHERE path @> ARRAY[{arg(self.category)}]::varchar[]"  # noqa: S608
            clauses.append(f"p.category_id IN ({subtree})")
        if self.min_price is not None:
            clauses.append(f"p.price_cents >= {arg(self.min_price)}")
        if self.max_price is not None:
            clauses.append(f"p.price_cents <= {arg(self.max_price)}")
        if self.name_contains is not None:
            clauses.append(f"p.name ILIKE {arg('%' + _escape_like(self.name_contains) + '%')}")
        if self.sku is not None:
            clauses.append(f"lower(p.sku) = lower({arg(self.sku)})")
        return " AND ".join(clauses), args


def _escape_like(text: str) -> str:
    # The shopper's text is matched literally: % and _ are not wildcards to them.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def product_page(
    database: Database,
    filters: ProductFilter,
    *,
    sort: SortField,
    order: SortOrder,
    page: int,
    page_size: int,
) -> ProductPage:
    """One page of live products and the total that match, on one pooled connection."""
    where, args = filters.where()
    direction = "ASC" if order == "asc" else "DESC"
    # Both interpolated names come from fixed tables above, never from the request text.
    page_sql = f"""
        SELECT {_PRODUCT_COLUMNS}
        FROM product p JOIN category c ON c.id = p.category_id
        WHERE {where}
        ORDER BY {_SORT_COLUMNS[sort]} {direction}, p.id {direction}
        LIMIT {page_size} OFFSET {(page - 1) * page_size}
    """  # noqa: S608
    count_sql = f"SELECT count(*) FROM product p WHERE {where}"  # noqa: S608
    pool = await database.read_pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(page_sql, *args)
        if page == 1 and len(rows) < page_size:
            total = len(rows)  # the whole result fits on this page: no need to count
        else:
            total = await conn.fetchval(count_sql, *args)
    return ProductPage(items=[_product_view(row) for row in rows], total=total, page=page, page_size=page_size)


async def category_tree(database: Database) -> list[CategoryNode]:
    """Every category, nested under its parent; roots and siblings ordered by name."""
    rows = await database.fetch(_CATEGORIES)
    return _nest(rows)


async def category_subtree(database: Database, slug: str) -> CategoryNode | None:
    rows = await database.fetch(_CATEGORY_SUBTREE, slug)
    nodes = _nest(rows)
    return nodes[0] if nodes else None


def _nest(rows: Sequence[asyncpg.Record]) -> list[CategoryNode]:
    # Rows arrive parents first (ordered by depth), so every parent exists before its children.
    by_slug: dict[str, CategoryNode] = {}
    roots: list[CategoryNode] = []
    for slug, name, path in rows:
        parent = path[-2] if len(path) > 1 else None
        node = CategoryNode(slug=slug, name=name, path=list(path), parent_slug=parent)
        by_slug[slug] = node
        # A subtree's own root has a parent outside the rows: it becomes a root here.
        if parent is None or parent not in by_slug:
            roots.append(node)
        else:
            by_slug[parent].children.append(node)
    return roots
