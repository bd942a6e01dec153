"""The category tree, products, and the outbox of product events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from commerce_platform.events.schema import create_outbox_table, drop_outbox_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
LIVE = sa.text("deleted_at IS NULL")


def _audit_columns() -> list[sa.Column[object]]:
    """advanced-alchemy's audit base: the ORM's bulk-insert sentinel, created_at, updated_at."""
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "category",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent_id", sa.Uuid(), sa.ForeignKey("category.id", ondelete="RESTRICT"), nullable=True),
        # Ancestors' slugs then its own; never rewritten because categories never move.
        sa.Column("path", ARRAY(sa.String(64)), nullable=False),
        *_audit_columns(),
        sa.CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="ck_category_slug"),
        sa.CheckConstraint("path[cardinality(path)] = slug", name="ck_category_path_ends_in_slug"),
    )
    op.create_index("ix_category_parent_id", "category", ["parent_id"])
    # "This category and everything under it" is `path @> ARRAY[slug]`.
    op.create_index("ix_category_path", "category", ["path"], postgresql_using="gin")

    op.create_table(
        "product",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "category_id", sa.Uuid(), sa.ForeignKey("category.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("attributes", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        *_audit_columns(),
        sa.CheckConstraint("price_cents >= 0", name="ck_product_price_not_negative"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_product_currency"),
        sa.CheckConstraint("revision >= 1", name="ck_product_revision"),
        sa.CheckConstraint("jsonb_typeof(attributes) = 'object'", name="ck_product_attributes_object"),
    )
    # One live product per SKU whatever its case; deleted products give their SKU back.
    op.create_index(
        "uq_product_sku_live", "product", [sa.text("lower(sku)")], unique=True, postgresql_where=LIVE
    )
    op.create_index("ix_product_category_id", "product", ["category_id"])
    # The public list sorts live products by one of these, ties broken by id.
    op.create_index("ix_product_live_created_at", "product", ["created_at", "id"], postgresql_where=LIVE)
    op.create_index("ix_product_live_price", "product", ["price_cents", "id"], postgresql_where=LIVE)
    op.create_index("ix_product_live_name", "product", ["name", "id"], postgresql_where=LIVE)
    # `q` is "name contains": a trigram index lets ILIKE '%...%' avoid a full scan.
    op.create_index(
        "ix_product_name_trgm",
        "product",
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )

    create_outbox_table()


def downgrade() -> None:
    drop_outbox_table()
    op.drop_table("product")
    op.drop_table("category")
