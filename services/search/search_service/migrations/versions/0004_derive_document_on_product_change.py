"""Derive a product's search document only when its text changes, not on every stock change.

Why: `document` (the full-text vector) and `search_name` (the unaccented name) were stored generated
columns, and PostgreSQL recomputes every stored generated column on every UPDATE of the row, whatever
the UPDATE changed. A selling shop writes a product's stock columns at every reservation, so every
`StockChanged` paid for the product's whole text search document again: on PostgreSQL 18.6 a stock
upsert of a `search_product` row took 248 µs, the same upsert on a copy of the table without those
columns 72 µs (a `SELECT 1` round trip: 65 µs).

They become plain columns that a BEFORE trigger fills, from the same functions, when a row is
inserted or one of their sources (name, sku, category_path, description, attributes) changed. A
stock-only row (stock that arrived before its product: every source still at its empty default)
gets the empty values without calling the text functions.

0003's notify trigger compares rows as jsonb minus the hidden columns; the two derived columns are
now hidden too: they change exactly when their visible sources do, and leaving them out spares it
converting the tsvector to jsonb twice per write.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DERIVE_FUNCTION = """
CREATE FUNCTION search_product_derive() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND (NEW.name, NEW.sku, NEW.category_path, NEW.description, NEW.attributes)
            IS NOT DISTINCT FROM (OLD.name, OLD.sku, OLD.category_path, OLD.description, OLD.attributes) THEN
        RETURN NEW;
    END IF;
    IF NEW.name = '' AND NEW.sku = '' AND NEW.category_path = '{}' AND NEW.description = ''
        AND NEW.attributes = '{}' THEN
        NEW.search_name := '';
        NEW.document := ''::tsvector;
    ELSE
        NEW.search_name := search_unaccent(NEW.name);
        NEW.document := search_document(NEW.name, NEW.sku, NEW.category_path, NEW.description, NEW.attributes);
    END IF;
    RETURN NEW;
END
$$
"""
DERIVE_TRIGGER = """
CREATE TRIGGER search_product_derive
    BEFORE INSERT OR UPDATE ON search_product
    FOR EACH ROW EXECUTE FUNCTION search_product_derive()
"""


def _notify_function(hidden: str) -> str:
    """0003's row trigger function with the given hidden columns (a SQL array literal's items)."""
    return f"""
CREATE OR REPLACE FUNCTION search_read_model_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hidden CONSTANT text[] := ARRAY[{hidden}];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NOT OLD.listed AND NOT NEW.listed THEN
            RETURN NULL;
        END IF;
        IF to_jsonb(OLD) - hidden - 'available' IS DISTINCT FROM to_jsonb(NEW) - hidden - 'available' THEN
            PERFORM pg_notify('search_read_model_changed', '');
        ELSIF OLD.available IS DISTINCT FROM NEW.available THEN
            PERFORM pg_notify('search_read_model_changed', NEW.product_id::text);
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.listed THEN
            PERFORM pg_notify('search_read_model_changed', '');
        END IF;
    ELSIF OLD.listed THEN
        PERFORM pg_notify('search_read_model_changed', '');
    END IF;
    RETURN NULL;
END
$$
"""


_HIDDEN_0003 = "'on_hand', 'reserved', 'stock_revision', 'applied_at'"
_HIDDEN_0004 = f"{_HIDDEN_0003}, 'search_name', 'document'"


def upgrade() -> None:
    op.execute("ALTER TABLE search_product ALTER COLUMN search_name DROP EXPRESSION")
    op.execute("ALTER TABLE search_product ALTER COLUMN document DROP EXPRESSION")
    op.execute(DERIVE_FUNCTION)
    op.execute(DERIVE_TRIGGER)
    op.execute(_notify_function(_HIDDEN_0004))


def downgrade() -> None:
    op.execute(_notify_function(_HIDDEN_0003))
    op.execute("DROP TRIGGER search_product_derive ON search_product")
    op.execute("DROP FUNCTION search_product_derive()")
    # A plain column cannot become generated again: replace both (their indexes go with them).
    op.execute("ALTER TABLE search_product DROP COLUMN search_name, DROP COLUMN document")
    op.execute(
        "ALTER TABLE search_product"
        " ADD COLUMN search_name text NOT NULL GENERATED ALWAYS AS (search_unaccent(name)) STORED,"
        " ADD COLUMN document tsvector NOT NULL GENERATED ALWAYS AS"
        " (search_document(name, sku, category_path, description, attributes)) STORED"
    )
    op.execute("CREATE INDEX ix_search_product_document ON search_product USING gin (document)")
    op.execute("CREATE INDEX ix_search_product_name_trgm ON search_product USING gin (search_name gin_trgm_ops)")
