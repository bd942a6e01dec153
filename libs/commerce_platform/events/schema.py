"""Alembic operations that create the outbox and inbox tables, so every service creates them alike.

Call them from a service migration's `upgrade()` (and the drop functions from `downgrade()`):

    from commerce_platform.events.schema import create_outbox_table
    def upgrade() -> None:
        create_outbox_table()

The columns are spelled out here rather than read from the models: a migration must keep creating
the shape it created when it was written, whatever the models look like later. A test checks that
these tables and the models agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from commerce_platform.events.inbox import INBOX_TABLE
from commerce_platform.events.outbox import OUTBOX_TABLE

TIMESTAMP = sa.DateTime(timezone=True)
_NOTIFY_FUNCTION = "outbox_notify"
_CHANNEL_PREFIX = "outbox_"


def outbox_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a schema's outbox announces new rows.

    One channel per schema: services share a database, and a relay should wake only for its own rows.
    """
    return f"{_CHANNEL_PREFIX}{schema}"


def create_outbox_table() -> None:
    op.create_table(
        OUTBOX_TABLE,
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("traceparent", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("available_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_pending", OUTBOX_TABLE, ["created_at"], postgresql_where=sa.text("sent_at IS NULL"))
    # A statement-level trigger wakes the relay at commit (NOTIFY is transactional, and repeated
    # notifications within one transaction collapse into one), so publishers need no extra round trip.
    op.execute(
        f"""
        CREATE FUNCTION {_NOTIFY_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{_CHANNEL_PREFIX}' || TG_TABLE_SCHEMA, '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {_NOTIFY_FUNCTION} AFTER INSERT ON {OUTBOX_TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_NOTIFY_FUNCTION}()"
    )


def drop_outbox_table() -> None:
    op.drop_table(OUTBOX_TABLE)
    op.execute(f"DROP FUNCTION IF EXISTS {_NOTIFY_FUNCTION}()")


def create_inbox_table() -> None:
    op.create_table(
        INBOX_TABLE,
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("processed_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    )


def drop_inbox_table() -> None:
    op.drop_table(INBOX_TABLE)
