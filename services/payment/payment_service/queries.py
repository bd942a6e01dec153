"""Lean reads of payments for the API: one asyncpg query per view, no ORM (the read path of every
payment response, including the ones the write paths return)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from commerce_platform.database import Database
from payment_service.schemas import PaymentPage, PaymentView, RefundView, StatusChangeView

# The payment's columns with its refunds and status history folded in as JSON arrays, oldest first.
_VIEW_COLUMNS = """
    p.id, p.status, p.order_id, p.user_id, p.amount_cents, p.amount_refunded_cents, p.currency, p.provider,
    p.provider_payment_id, p.failure_code, p.failure_message, p.created_at, p.updated_at,
    COALESCE((
        SELECT json_agg(json_build_object(
            'id', r.id, 'amount_cents', r.amount_cents, 'reason', r.reason,
            'provider_refund_id', r.provider_refund_id, 'source', r.source, 'created_at', r.created_at
        ) ORDER BY r.created_at, r.id)
        FROM refund r WHERE r.payment_id = p.id
    ), '[]')::text AS refunds,
    COALESCE((
        SELECT json_agg(json_build_object(
            'from', h.from_status, 'to', h.to_status, 'source', h.source, 'at', h.at,
            'provider_event_id', h.provider_event_id
        ) ORDER BY h.at, h.id)
        FROM payment_status_change h WHERE h.payment_id = p.id
    ), '[]')::text AS history
"""

_REFUNDS = msgspec.json.Decoder(list[RefundView])
_HISTORY = msgspec.json.Decoder(list[StatusChangeView])


def _view(record: asyncpg.Record) -> PaymentView:
    fields: dict[str, Any] = dict(record)
    fields.pop("total", None)
    fields["refunds"] = _REFUNDS.decode(fields["refunds"])
    fields["history"] = _HISTORY.decode(fields["history"])
    return PaymentView(**fields)


async def payment_view(database: Database, payment_id: UUID) -> PaymentView | None:
    record = await database.fetchrow(f"SELECT {_VIEW_COLUMNS} FROM payment p WHERE p.id = $1", payment_id)  # noqa: S608
    return None if record is None else _view(record)


async def payments_by(
    database: Database,
    *,
    user_id: UUID | None = None,
    order_id: UUID | None = None,
    idempotency_key: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> PaymentPage:
    """Payments matching every filter given, newest first (ids are time-ordered UUIDv7)."""
    records = await database.fetch(
        f"""
        SELECT {_VIEW_COLUMNS}, count(*) OVER () AS total
        FROM payment p
        WHERE ($1::uuid IS NULL OR p.user_id = $1)
          AND ($2::uuid IS NULL OR p.order_id = $2)
          AND ($3::text IS NULL OR p.idempotency_key = $3)
        ORDER BY p.id DESC
        LIMIT $4 OFFSET $5
        """,  # noqa: S608 - the only interpolation is the constant column list above
        user_id,
        order_id,
        idempotency_key,
        page_size,
        (page - 1) * page_size,
    )
    if records:
        total = int(records[0]["total"])
    else:  # past the last page (or nothing at all): the window count has no row to ride on
        counted = await database.fetchrow(
            """
            SELECT count(*) AS total FROM payment p
            WHERE ($1::uuid IS NULL OR p.user_id = $1) AND ($2::uuid IS NULL OR p.order_id = $2)
              AND ($3::text IS NULL OR p.idempotency_key = $3)
            """,
            user_id,
            order_id,
            idempotency_key,
        )
        total = int(counted["total"]) if counted is not None else 0
    return PaymentPage(items=[_view(r) for r in records], total=total, page=page, page_size=page_size)
