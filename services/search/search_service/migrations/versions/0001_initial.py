"""The search read model: products with a weighted document, stock, and the inbox of applied events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

from commerce_platform.events.schema import create_inbox_table, drop_inbox_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)

# unaccent() is only STABLE (its dictionary could change), so an index or generated column cannot
# call it. This wrapper pins the dictionary and promises immutability, the documented workaround.
# The SQL-standard body binds `public.unaccent` at creation, whatever a later search_path says.
SEARCH_UNACCENT = """
CREATE FUNCTION search_unaccent(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN public.unaccent('public.unaccent'::regdictionary, value)
"""

# What a product's text weighs: name A, SKU and category slugs B, description C, attribute values D.
# Category slugs lose their hyphens so "running-shoes" matches "running shoes".
SEARCH_DOCUMENT = """
CREATE FUNCTION search_document(
    name text, sku text, category_path text[], description text, attributes jsonb
) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('english', search_unaccent(name)), 'A')
        || setweight(to_tsvector('simple', sku), 'B')
        || setweight(
            to_tsvector('english', replace(array_to_string(category_path, ' '), '-', ' ')), 'B'
        )
        || setweight(to_tsvector('english', search_unaccent(description)), 'C')
        || setweight(jsonb_to_tsvector('english', attributes, '["string", "numeric"]'), 'D')
"""

# Must match search_service.price_bands.PRICE_BAND_BOUNDS (a test checks the bands' edges).
PRICE_BANDS = "width_bucket(price_cents, '{1000,2500,5000,10000,25000}'::bigint[])"

# Keeps `search_facet_count` equal to a GROUP BY over listed products, inside the writer's own
# transaction. Rows whose key (listed, path, band, in_stock) did not change cost one comparison,
# which is nearly every stock update. When a key does change, the two counter rows are updated
# smaller key first, so two concurrent moves in opposite directions cannot deadlock.
FACET_COUNT_ADD = """
CREATE FUNCTION search_facet_count_add(path text[], band smallint, stocked boolean, delta integer)
RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO search_facet_count AS f (category_path, price_band, in_stock, products)
    VALUES (path, band, stocked, delta)
    ON CONFLICT (category_path, price_band, in_stock) DO UPDATE SET products = f.products + delta
$$
"""
FACET_COUNT_FOLLOW = """
CREATE FUNCTION search_facet_count_follow() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    was_counted boolean := TG_OP <> 'INSERT' AND OLD.listed;
    is_counted boolean := TG_OP <> 'DELETE' AND NEW.listed;
BEGIN
    IF was_counted AND is_counted THEN
        IF (OLD.category_path, OLD.price_band, OLD.in_stock)
            = (NEW.category_path, NEW.price_band, NEW.in_stock) THEN
            RETURN NULL;
        ELSIF (OLD.category_path, OLD.price_band, OLD.in_stock)
            < (NEW.category_path, NEW.price_band, NEW.in_stock) THEN
            PERFORM search_facet_count_add(OLD.category_path, OLD.price_band, OLD.in_stock, -1);
            PERFORM search_facet_count_add(NEW.category_path, NEW.price_band, NEW.in_stock, 1);
        ELSE
            PERFORM search_facet_count_add(NEW.category_path, NEW.price_band, NEW.in_stock, 1);
            PERFORM search_facet_count_add(OLD.category_path, OLD.price_band, OLD.in_stock, -1);
        END IF;
    ELSIF was_counted THEN
        PERFORM search_facet_count_add(OLD.category_path, OLD.price_band, OLD.in_stock, -1);
    ELSIF is_counted THEN
        PERFORM search_facet_count_add(NEW.category_path, NEW.price_band, NEW.in_stock, 1);
    END IF;
    RETURN NULL;
END
$$
"""
FACET_TRIGGER = """
CREATE TRIGGER search_facet_count_follow
    AFTER INSERT OR UPDATE OR DELETE ON search_product
    FOR EACH ROW EXECUTE FUNCTION search_facet_count_follow()
"""


def upgrade() -> None:
    op.execute(SEARCH_UNACCENT)
    op.execute(SEARCH_DOCUMENT)
    op.create_table(
        "search_product",
        sa.Column("product_id", sa.Uuid(), primary_key=True),
        sa.Column("sku", sa.Text(), nullable=False, server_default=""),
        sa.Column("name", sa.Text(), nullable=False, server_default=""),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("price_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("currency", sa.Text(), nullable=False, server_default=""),
        sa.Column("category_slug", sa.Text(), nullable=False, server_default=""),
        sa.Column("category_path", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("attributes", JSONB(), nullable=False, server_default="{}"),
        sa.Column("product_revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("on_hand", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("available", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("stock_revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.Column("applied_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("in_stock", sa.Boolean(), sa.Computed("available > 0", persisted=True), nullable=False),
        sa.Column(
            "price_band", sa.SmallInteger(), sa.Computed(f"{PRICE_BANDS}::smallint", persisted=True), nullable=False
        ),
        sa.Column(
            "listed", sa.Boolean(), sa.Computed("product_revision > 0 AND NOT deleted", persisted=True),
            nullable=False,
        ),
        # The name as the typo fallback compares it; stored so a recheck never re-runs unaccent.
        sa.Column("search_name", sa.Text(), sa.Computed("search_unaccent(name)", persisted=True), nullable=False),
        sa.Column(
            "document",
            TSVECTOR(),
            sa.Computed("search_document(name, sku, category_path, description, attributes)", persisted=True),
            nullable=False,
        ),
    )
    # Full text (`document @@ query`), typo fallback (`... <% search_name`), subtree filter
    # (`category_path @> ARRAY[slug]`) and attribute filter (`attributes @> '{"color": "red"}'`).
    op.execute("CREATE INDEX ix_search_product_document ON search_product USING gin (document)")
    op.execute("CREATE INDEX ix_search_product_name_trgm ON search_product USING gin (search_name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_search_product_category_path ON search_product USING gin (category_path)")
    op.execute("CREATE INDEX ix_search_product_attributes ON search_product USING gin (attributes jsonb_path_ops)")
    # Browsing without a query walks these in order and stops after one page.
    op.create_index("ix_search_product_price", "search_product", ["price_cents", "product_id"])
    op.create_index("ix_search_product_created_at", "search_product", ["created_at", "product_id"])
    # Counts of listed products per (category path, price band, in stock): browsing without a query,
    # price range or attribute filter reads its total and facets here instead of counting 100,000 rows.
    op.create_table(
        "search_facet_count",
        sa.Column("category_path", ARRAY(sa.Text()), primary_key=True),
        sa.Column("price_band", sa.SmallInteger(), primary_key=True),
        sa.Column("in_stock", sa.Boolean(), primary_key=True),
        sa.Column("products", sa.BigInteger(), nullable=False),
    )
    op.execute(FACET_COUNT_ADD)
    op.execute(FACET_COUNT_FOLLOW)
    op.execute(FACET_TRIGGER)
    create_inbox_table()


def downgrade() -> None:
    drop_inbox_table()
    op.drop_table("search_product")
    op.drop_table("search_facet_count")
    op.execute("DROP FUNCTION search_facet_count_follow()")
    op.execute("DROP FUNCTION search_facet_count_add(text[], smallint, boolean, integer)")
    op.execute("DROP FUNCTION search_document(text, text, text[], text, jsonb)")
    op.execute("DROP FUNCTION search_unaccent(text)")
