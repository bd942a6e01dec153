"""Carts, their lines, and the record of orders already taken out of them.

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


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "cart",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=True, unique=True),
        sa.Column("guest_token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        *_audit_columns(),
        sa.CheckConstraint("(user_id IS NULL) <> (guest_token_hash IS NULL)", name="ck_cart_one_owner"),
    )
    op.create_table(
        "cart_item",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("cart_id", sa.Uuid(), sa.ForeignKey("cart.id", ondelete="CASCADE"), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        *_audit_columns(),
        sa.UniqueConstraint("cart_id", "product_id", name="uq_cart_item_product"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99", name="ck_cart_item_quantity"),
    )
    op.create_index("ix_cart_item_cart_id", "cart_item", ["cart_id"])
    op.create_table(
        "checkout_record",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("cart_id", sa.Uuid(), sa.ForeignKey("cart.id", ondelete="CASCADE"), nullable=False),
        *_audit_columns(),
    )


def downgrade() -> None:
    op.drop_table("checkout_record")
    op.drop_table("cart_item")
    op.drop_table("cart")
