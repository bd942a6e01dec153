"""A failed checkout remembers that its compensation is still owed; an order remembers a refund the
payment service refused for good.

Why `compensation_due`: undoing a checkout used to void its payments and release its stock hold
first and mark the order failed after. A checkout that was slow, not dead, could confirm the order in
between, and keep neither its payment nor its pinned hold. Now the order leaves `pending` first
(pending -> failed with `compensation_due`, under the row lock, only if still pending), and only then
is anything given back; a crash or a payment outage after that leaves the flag, and the recovery task
finishes the compensation.

Why `refund_failure`: a refund or void the payment service refuses with a 4xx (a canceled payment,
a provider refusal) cannot succeed by asking again. It is recorded here for someone to settle by
hand, instead of being retried every few minutes for ever.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_NEEDS_RECOVERY = "status = 'pending' OR failure ? 'payment_outcome_unknown' OR refund_due"
NEW_NEEDS_RECOVERY = f"{OLD_NEEDS_RECOVERY} OR compensation_due"


def _recreate_recovery_index(where: str) -> None:
    op.drop_index("ix_customer_order_needs_recovery", table_name="customer_order")
    op.create_index(
        "ix_customer_order_needs_recovery", "customer_order", ["updated_at"], postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    op.add_column(
        "customer_order", sa.Column("compensation_due", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("customer_order", sa.Column("refund_failure", sa.Text(), nullable=True))
    _recreate_recovery_index(NEW_NEEDS_RECOVERY)


def downgrade() -> None:
    _recreate_recovery_index(OLD_NEEDS_RECOVERY)
    op.drop_column("customer_order", "refund_failure")
    op.drop_column("customer_order", "compensation_due")
