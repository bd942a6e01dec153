"""Stock items, movements, reservations, and the outbox and inbox for events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commerce_platform.events.schema import (
    create_inbox_table,
    create_outbox_table,
    drop_inbox_table,
    drop_outbox_table,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "stock_item",
        sa.Column("product_id", sa.Uuid(), primary_key=True),
        sa.Column("on_hand", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("discontinued_at", TIMESTAMP, nullable=True),
        *_audit_columns(),
        # The application checks these first; the constraints are the last line against overselling.
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_item_on_hand"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_item_reserved"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_item_reserved_le_on_hand"),
    )

    op.create_table(
        "stock_movement",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("stock_item.product_id"), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("on_hand_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        *_audit_columns(),
        sa.CheckConstraint("delta <> 0", name="ck_stock_movement_delta"),
    )
    # The movements page: one product's trail, newest first (UUIDv7 ids sort by time).
    op.create_index("ix_stock_movement_product", "stock_movement", ["product_id", "id"])

    op.create_table(
        "reservation",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="held"),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("committed_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        *_audit_columns(),
        sa.CheckConstraint(
            "status IN ('held', 'committed', 'released', 'expired', 'restocked')", name="ck_reservation_status"
        ),
    )
    # Only live holds are indexed, so finding the expired ones stays cheap however many orders exist.
    op.create_index(
        "ix_reservation_held_expiry", "reservation", ["expires_at"], postgresql_where=sa.text("status = 'held'")
    )

    op.create_table(
        "reservation_line",
        sa.Column("reservation_id", sa.Uuid(), sa.ForeignKey("reservation.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("stock_item.product_id"), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_line_quantity"),
    )

    create_outbox_table()
    create_inbox_table()


def downgrade() -> None:
    drop_inbox_table()
    drop_outbox_table()
    op.drop_table("reservation_line")
    op.drop_table("reservation")
    op.drop_table("stock_movement")
    op.drop_table("stock_item")
