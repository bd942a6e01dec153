"""Announce every change of the search read model on `search_read_model_changed`, at commit.

The result cache of each search process serves an entry only until the read model changes (see
search_service/result_cache.py); this trigger is how every process hears of a change, whoever
writes: the event handlers, a bulk load, a manual fix. Statement-level, so a bulk statement sends
one notification, and Postgres folds identical notifications of one transaction into one.
`search_facet_count` is written only by `search_product`'s row trigger, in the same transaction,
so it needs no trigger of its own.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must match search_service.change_feed.READ_MODEL_CHANNEL.
NOTIFY_FUNCTION = """
CREATE FUNCTION search_read_model_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('search_read_model_changed', '');
    RETURN NULL;
END
$$
"""
WRITE_TRIGGER = """
CREATE TRIGGER search_read_model_notify
    AFTER INSERT OR UPDATE OR DELETE ON search_product
    FOR EACH STATEMENT EXECUTE FUNCTION search_read_model_notify()
"""
TRUNCATE_TRIGGER = """
CREATE TRIGGER search_read_model_notify_truncate
    AFTER TRUNCATE ON search_product
    FOR EACH STATEMENT EXECUTE FUNCTION search_read_model_notify()
"""


def upgrade() -> None:
    op.execute(NOTIFY_FUNCTION)
    op.execute(WRITE_TRIGGER)
    op.execute(TRUNCATE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER search_read_model_notify_truncate ON search_product")
    op.execute("DROP TRIGGER search_read_model_notify ON search_product")
    op.execute("DROP FUNCTION search_read_model_notify()")
