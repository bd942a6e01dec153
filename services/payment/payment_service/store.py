"""Every statement that changes payments, as plain SQL on the caller's asyncpg connection and transaction.

Why not the ORM: a charge is on every checkout's path, and measured in-process a charge through
SQLAlchemy sessions cost ~4.5 ms of CPU against ~1.8 ms written like this (of which ~1 ms is the
Stripe SDK), on a platform budget of 20 ms per checkout. The webhook that follows every charge takes
the same path. Statements are few and fixed, so plain SQL stays readable.

Connections come from the platform's asyncpg pool (`Database.read_pool`). It skips asyncpg's full
session reset on release, but asyncpg still rolls back any transaction left open before a
connection goes back, and these statements set no session state (a lock wait limit is SET LOCAL,
gone with its transaction), so short write transactions are safe on it.
"""

from __future__ import annotations

from typing import Literal

import asyncpg
from uuid_utils.compat import uuid7

from payment_service.lifecycle import CREATED
from payment_service.models import ChangeSource, Payment, StatusChange
from payment_service.schemas import ChargeCreate

# Columns a payment can be looked up and locked by (never user input: a closed set of names).
LockKey = Literal["id", "idempotency_key", "provider_payment_id"]

_COLUMNS = (
    "id, order_id, user_id, amount_cents, currency, payment_method, idempotency_key, status, provider,"
    " provider_payment_id, amount_refunded_cents, failure_code, failure_message"
)

# One statement: the pending payment and its first history step, unless the key is taken. A
# concurrent claimer of the same key waits on the unique index until the first commits, then
# inserts nothing.
_CLAIM = """
WITH claimed AS (
    INSERT INTO payment (id, order_id, user_id, amount_cents, currency, payment_method, idempotency_key,
                         status, provider)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
INSERT INTO payment_status_change (id, payment_id, from_status, to_status, source)
SELECT $10, claimed.id, NULL, $8, $11 FROM claimed
"""

# The payment's changeable columns, and the history steps that led there, in one round trip.
_SAVE = """
WITH saved AS (
    UPDATE payment
    SET status = $2, provider_payment_id = $3, amount_refunded_cents = $4, failure_code = $5,
        failure_message = $6, updated_at = now()
    WHERE id = $1
    RETURNING id
)
INSERT INTO payment_status_change (id, payment_id, from_status, to_status, source, provider_event_id, at)
SELECT step.id, saved.id, step.from_status, step.to_status, step.source, step.provider_event_id, clock_timestamp()
FROM saved,
     unnest($7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[])
         AS step(id, from_status, to_status, source, provider_event_id)
"""


async def claim(conn: asyncpg.Connection, data: ChargeCreate, *, provider: str) -> None:
    """Create the pending payment for `data.idempotency_key` unless one exists (its own transaction)."""
    await conn.execute(
        _CLAIM,
        uuid7(),
        data.order_id,
        data.user_id,
        data.amount_cents,
        data.currency,
        data.payment_method,
        data.idempotency_key,
        CREATED.to_status.value,
        provider,
        uuid7(),
        CREATED.source.value,
    )


async def lock(
    conn: asyncpg.Connection, key: LockKey, value: object, *, wait_seconds: float | None = None
) -> Payment | None:
    """The payment whose `key` column equals `value`, locked until the transaction ends. With
    `wait_seconds`, raises asyncpg.LockNotAvailableError once the lock is held longer than that by
    another transaction; the limit stays for the rest of this transaction, which waits on no other lock."""
    if wait_seconds is not None:
        await conn.execute("SELECT set_config('lock_timeout', $1, true)", f"{round(wait_seconds * 1000)}ms")
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM payment WHERE {key} = $1 FOR UPDATE", value)  # noqa: S608
    return None if row is None else Payment.from_row(row)


async def save(conn: asyncpg.Connection, payment: Payment, *changes: StatusChange | None) -> None:
    """Write the payment's changeable columns back, with the history steps (None entries are no-ops)."""
    steps = [change for change in changes if change is not None]
    await conn.execute(
        _SAVE,
        payment.id,
        payment.status.value,
        payment.provider_payment_id,
        payment.amount_refunded_cents,
        payment.failure_code,
        payment.failure_message,
        [uuid7() for _ in steps],
        [step.from_status.value if step.from_status else None for step in steps],
        [step.to_status.value for step in steps],
        [step.source.value for step in steps],
        [step.provider_event_id for step in steps],
    )


async def recorded_refund(conn: asyncpg.Connection, payment_id: object, key: str) -> int | None:
    """The amount of the payment's refund made under `key`, or None if there is none."""
    amount: int | None = await conn.fetchval(
        "SELECT amount_cents FROM refund WHERE payment_id = $1 AND idempotency_key = $2", payment_id, key
    )
    return amount


async def add_refund(
    conn: asyncpg.Connection,
    payment: Payment,
    amount_cents: int,
    *,
    key: str,
    reason: str | None,
    provider_refund_id: str | None,
    source: ChangeSource,
) -> bool:
    """Record a refund; False, recording nothing, if its provider refund id is recorded already (the
    provider replaying a refund a webhook reported first, under another key)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO refund (id, payment_id, amount_cents, reason, idempotency_key, provider_refund_id, source)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (provider_refund_id) DO NOTHING
        RETURNING id
        """,
        uuid7(),
        payment.id,
        amount_cents,
        reason,
        key,
        provider_refund_id,
        source.value,
    )
    return inserted is not None


async def recorded_refunds(conn: asyncpg.Connection, payment_id: object) -> dict[str, str | None]:
    """The payment's refunds, as refund key -> provider refund id (None for rows recorded before
    refunds carried ids)."""
    rows = await conn.fetch("SELECT idempotency_key, provider_refund_id FROM refund WHERE payment_id = $1", payment_id)
    return {row["idempotency_key"]: row["provider_refund_id"] for row in rows}


async def first_delivery(
    conn: asyncpg.Connection, event_id: str, event_type: str, payment: Payment | None, outcome: str
) -> bool:
    """Record a provider event as processed; False if it already was (a redelivery)."""
    recorded = await conn.fetchval(
        """
        INSERT INTO processed_webhook_event (id, event_type, payment_id, outcome) VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
        """,
        event_id,
        event_type,
        payment.id if payment is not None else None,
        outcome,
    )
    return recorded is not None


async def set_event_outcome(conn: asyncpg.Connection, event_id: str, outcome: str) -> None:
    await conn.execute("UPDATE processed_webhook_event SET outcome = $2 WHERE id = $1", event_id, outcome)
