"""A cancelled order remembers that its refund is still to be made.

Why: cancelling used to refund first and record the cancellation after, so a crash (or a lost
database connection) between the two left a confirmed order with its money given back, its stock
still sold and no OrderCancelled. Now the cancellation and its OrderCancelled row are written first,
with `refund_due`; the refund follows, and the recovery task makes any refund a crash or a payment
outage left undone (the payment service refunds once per order, so repeating it is safe).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_NEEDS_RECOVERY = "status = 'pending' OR failure ? 'payment_outcome_unknown'"
NEW_NEEDS_RECOVERY = f"{OLD_NEEDS_RECOVERY} OR refund_due"


def _recreate_recovery_index(where: str) -> None:
    op.drop_index("ix_customer_order_needs_recovery", table_name="customer_order")
    op.create_index(
        "ix_customer_order_needs_recovery", "customer_order", ["updated_at"], postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    op.add_column(
        "customer_order", sa.Column("refund_due", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    _recreate_recovery_index(NEW_NEEDS_RECOVERY)


def downgrade() -> None:
    _recreate_recovery_index(OLD_NEEDS_RECOVERY)
    op.drop_column("customer_order", "refund_due")
