"""Each claimed batch carries a claim token; a text's recipient may be left for delivery to resolve.

Why: a batch still sending after its lease ran out could record its outcomes over those of the replica
that claimed the rows next (a late failure turned `sent` back into `pending`). Outcomes now only land
on rows still holding the claim token of the batch that sent them. And an order's email used to be
lost when the user service was down at the time of the event; now the email is recorded regardless
and the text is recorded with no recipient, for the delivery worker to ask the user service later.

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
    op.add_column("notification", sa.Column("claim_token", sa.Uuid(), nullable=True))
    op.alter_column("notification", "recipient", existing_type=sa.String(320), nullable=True)


def downgrade() -> None:
    # The old code cannot resolve a recipient: texts still waiting for one end `failed`, kept on record.
    op.execute(
        "UPDATE notification SET recipient = '', last_error = 'recipient never resolved', "
        "status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END WHERE recipient IS NULL"
    )
    op.alter_column("notification", "recipient", existing_type=sa.String(320), nullable=False)
    op.drop_column("notification", "claim_token")
