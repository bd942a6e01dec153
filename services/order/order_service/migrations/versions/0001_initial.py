"""Orders, their lines and status history, and the outbox of order events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from commerce_platform.events.schema import create_outbox_table, drop_outbox_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
STATUSES = "'pending', 'confirmed', 'failed', 'cancelled'"


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "customer_order",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column("payment_method", sa.String(255), nullable=False),
        sa.Column("shipping_address", JSONB(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("failure_status", sa.Integer(), nullable=True),
        sa.Column("failure", JSONB(), nullable=True),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.Column("cancelled_at", TIMESTAMP, nullable=True),
        sa.Column("recovery_lease_until", TIMESTAMP, nullable=True),
        *_audit_columns(),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_order_idempotency"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_order_status"),
        sa.CheckConstraint("total_cents IS NULL OR total_cents >= 0", name="ck_order_total"),
        sa.CheckConstraint("status <> 'confirmed' OR payment_id IS NOT NULL", name="ck_confirmed_is_paid"),
    )
    op.create_index("ix_customer_order_user_created", "customer_order", ["user_id", "created_at"])
    # Recovery scans only the few orders that are pending or carry an unresolved payment outcome.
    op.create_index(
        "ix_customer_order_needs_recovery",
        "customer_order",
        ["updated_at"],
        postgresql_where=sa.text("status = 'pending' OR failure ? 'payment_outcome_unknown'"),
    )
    op.create_table(
        "order_line",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), sa.ForeignKey("customer_order.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        *_audit_columns(),
        sa.CheckConstraint("quantity > 0", name="ck_order_line_quantity"),
        sa.CheckConstraint("unit_price_cents >= 0", name="ck_order_line_price"),
    )
    op.create_index("ix_order_line_order_id", "order_line", ["order_id"])
    op.create_table(
        "order_status_change",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), sa.ForeignKey("customer_order.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        *_audit_columns(),
    )
    op.create_index("ix_order_status_change_order_id", "order_status_change", ["order_id"])
    create_outbox_table()


def downgrade() -> None:
    drop_outbox_table()
    op.drop_table("order_status_change")
    op.drop_table("order_line")
    op.drop_table("customer_order")
