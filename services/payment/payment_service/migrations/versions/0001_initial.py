"""Payments, their status history, refunds, and the provider webhook events already processed.

Ids are UUIDv7 made by the service (time-ordered, so they sort lists newest first).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
STATUSES = "('pending', 'succeeded', 'failed', 'partially_refunded', 'refunded', 'canceled')"
SOURCES = "('sync', 'webhook')"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "payment",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_method", sa.String(255), nullable=False),
        # The caller's key: one payment per key, whatever the concurrency (see services.py).
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_payment_id", sa.String(255), nullable=True, unique=True),
        sa.Column("amount_refunded_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("amount_cents > 0", name="ck_payment_amount_positive"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_payment_currency"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="ck_payment_status"),
        sa.CheckConstraint(
            "amount_refunded_cents >= 0 AND amount_refunded_cents <= amount_cents", name="ck_payment_refunded_range"
        ),
    )
    op.create_index("ix_payment_order_id", "payment", ["order_id"])
    op.create_index("ix_payment_user_id", "payment", ["user_id", "id"])

    op.create_table(
        "payment_status_change",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("payment_id", sa.Uuid(), sa.ForeignKey("payment.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("provider_event_id", sa.String(255), nullable=True),
        # clock_timestamp, not now(): steps taken in one transaction still get distinct, ordered times.
        sa.Column("at", TIMESTAMP, nullable=False, server_default=sa.func.clock_timestamp()),
        sa.CheckConstraint(f"to_status IN {STATUSES}", name="ck_payment_status_change_to"),
        sa.CheckConstraint(f"source IN {SOURCES}", name="ck_payment_status_change_source"),
    )
    op.create_index("ix_payment_status_change_payment", "payment_status_change", ["payment_id", "at"])

    op.create_table(
        "refund",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("payment_id", sa.Uuid(), sa.ForeignKey("payment.id", ondelete="CASCADE"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("provider_refund_id", sa.String(255), nullable=True, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("amount_cents > 0", name="ck_refund_amount_positive"),
        sa.CheckConstraint(f"source IN {SOURCES}", name="ck_refund_source"),
        sa.UniqueConstraint("payment_id", "idempotency_key", name="uq_refund_payment_key"),
    )

    op.create_table(
        "processed_webhook_event",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_processed_webhook_event_payment", "processed_webhook_event", ["payment_id"])


def downgrade() -> None:
    op.drop_table("processed_webhook_event")
    op.drop_table("refund")
    op.drop_table("payment_status_change")
    op.drop_table("payment")
