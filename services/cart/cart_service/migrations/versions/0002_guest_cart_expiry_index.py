"""Index guest carts by expiry, for the purge of lapsed ones (user carts have none and stay out).

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


def upgrade() -> None:
    op.create_index(
        "ix_cart_expires_at", "cart", ["expires_at"], postgresql_where=sa.text("expires_at IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_cart_expires_at", table_name="cart")
