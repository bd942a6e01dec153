"""Announce changes of the search read model per row, saying which cached results they can affect.

Why: with migration 0002 every write of `search_product` told every search process "anything may
have changed", and a selling shop writes the stock columns several times per order (each
reservation, commit and release sends a `StockChanged`), so the result cache was emptied at the
checkout rate. Most of those writes change nothing a search can see, or only one item's
`available` figure. Each row now says which of three things happened (payload on
`search_read_model_changed`, see search_service/result_cache.py):

- nothing visible: no notification. Hidden columns are `on_hand`, `reserved`, `stock_revision`
  and `applied_at` (no query shows or filters by them), and a row that is unlisted before and
  after (stock that arrived before its product, a tombstone) is filtered out of every query and
  every facet count;
- only `available` changed and `in_stock` did not: the product id. No total, facet, order or
  match depends on `available` except through `in_stock`, so only results whose page shows this
  product can differ;
- anything else (a product upsert or deletion, an in-stock flip, an insert or delete of a listed
  row, TRUNCATE): '', meaning every result may differ.

The comparison is `to_jsonb(row) - hidden`, not a list of the visible columns, so a column added
later counts as visible until someone decides otherwise. Row-level for INSERT too: the stock
upsert is `INSERT ... ON CONFLICT DO UPDATE`, and a statement-level INSERT trigger fires for it
even when only the update path ran. Postgres folds identical notifications of one transaction, so
a bulk load still sends one ''; a bulk stock update sends one notification per product whose
`available` moved. Delivered at commit, to every listener, as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must match search_service.change_feed.READ_MODEL_CHANNEL and how result_cache reads the payload.
ROW_NOTIFY_FUNCTION = """
CREATE FUNCTION search_read_model_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hidden CONSTANT text[] := ARRAY['on_hand', 'reserved', 'stock_revision', 'applied_at'];
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
ROW_TRIGGER = """
CREATE TRIGGER search_read_model_notify_row
    AFTER INSERT OR UPDATE OR DELETE ON search_product
    FOR EACH ROW EXECUTE FUNCTION search_read_model_notify_row()
"""
# 0002's statement trigger on writes, restored by the downgrade.
STATEMENT_TRIGGER = """
CREATE TRIGGER search_read_model_notify
    AFTER INSERT OR UPDATE OR DELETE ON search_product
    FOR EACH STATEMENT EXECUTE FUNCTION search_read_model_notify()
"""


def upgrade() -> None:
    # 0002's TRUNCATE trigger (statement-level, '') stays: TRUNCATE fires no row trigger.
    op.execute("DROP TRIGGER search_read_model_notify ON search_product")
    op.execute(ROW_NOTIFY_FUNCTION)
    op.execute(ROW_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER search_read_model_notify_row ON search_product")
    op.execute("DROP FUNCTION search_read_model_notify_row()")
    op.execute(STATEMENT_TRIGGER)
