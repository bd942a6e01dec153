"""A reservation remembers that OrderCancelled released it (its order was cancelled before inventory
consumed OrderCreated).

Why: order events share one unordered queue, so a quick cancellation can be consumed first. The
stock outcome is right (the hold is released, nothing is sold), but the later OrderCreated finds the
hold released and used to log an error asking for the order to be reconciled by hand. With this
flag it logs at info, and the error is kept for holds released or expired for any other reason.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reservation",
        sa.Column("released_by_cancellation", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("reservation", "released_by_cancellation")
