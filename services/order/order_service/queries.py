"""Every statement of the order service, as plain SQL for asyncpg (run by `repositories.OrderBook`).

Why not the ORM: a checkout wrote and re-read its order through SQLAlchemy sessions in ~6
transactions and ~17 statements, ~20 ms of CPU per checkout with a third of it in session and
loader machinery (docs/benchmarks.md, "Checkout (issue 5)"). Written like this, the hot path is
open (1 statement), price (1), confirm (one short transaction of 3) and never re-reads what it
just wrote. `models.py` stays the schema's definition (migrations); these statements follow it.

Concurrency rests on the unique index and row locks, as before:
- `OPEN` inserts with ON CONFLICT DO NOTHING on (user_id, idempotency_key): a concurrent request
  with the same key waits on the index until the first commits, then inserts nothing and reads
  the first one's order (`BY_KEY`);
- a status change first locks the order row (`LOCK_STATUS`), checks the state machine in Python
  (`status.ensure_transition`), then writes the row, its history step and (for confirm/cancel)
  the outbox row in the same transaction.
Row ids of lines and history steps are made by Postgres; `created_at`/`updated_at` default to now().
"""

from __future__ import annotations

from order_service.status import OrderStatus

# The columns an `OrderRecord` is built from, in this order (`repositories._order`).
ORDER_COLUMNS = (
    "id, user_id, email, status, idempotency_key, request_hash, reservation_id, payment_method,"
    " shipping_address, total_cents, currency, payment_id, failure_status, failure, created_at, updated_at,"
    " refund_due, compensation_due, refund_failure"
)
LINE_COLUMNS = "order_id, product_id, sku, name, quantity, unit_price_cents"
CHANGE_COLUMNS = "order_id, from_status, to_status, reason, created_at"

# -- open: the pending order and its first history step, unless the key was used -----------------
# One statement (so one implicit transaction); it returns the whole row and the step's time, which
# is all the caller needs: no re-read of what was just written.
OPEN = f"""
    WITH opened AS (
        INSERT INTO customer_order (id, user_id, status, idempotency_key, request_hash, reservation_id,
                                    payment_method, shipping_address)
        VALUES ($1, $2, '{OrderStatus.PENDING}', $3, $4, $5, $6, $7::jsonb)
        ON CONFLICT ON CONSTRAINT uq_order_idempotency DO NOTHING
        RETURNING {ORDER_COLUMNS}
    ),
    step AS (
        INSERT INTO order_status_change (id, order_id, from_status, to_status)
        SELECT gen_random_uuid(), id, NULL, status FROM opened
        RETURNING created_at
    )
    SELECT opened.*, step.created_at AS step_at FROM opened, step
"""  # noqa: S608 (constant text)

# -- reads -------------------------------------------------------------------------------------
BY_KEY = f"SELECT {ORDER_COLUMNS} FROM customer_order WHERE user_id = $1 AND idempotency_key = $2"  # noqa: S608
BY_ID = f"SELECT {ORDER_COLUMNS} FROM customer_order WHERE id = $1"  # noqa: S608
# Lines and history of one or more orders ($1: their ids).
LINES_OF = f"SELECT {LINE_COLUMNS} FROM order_line WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, position"  # noqa: S608
HISTORY_OF = (
    f"SELECT {CHANGE_COLUMNS} FROM order_status_change WHERE order_id = ANY($1::uuid[])"  # noqa: S608
    " ORDER BY order_id, created_at, id"
)
# A customer's placed orders ($1: NULL for everyone's), newest first, and how many there are.
PLACED_PAGE = f"""
    SELECT {ORDER_COLUMNS}
    FROM customer_order
    WHERE status IN ('{OrderStatus.CONFIRMED}', '{OrderStatus.CANCELLED}') AND ($1::uuid IS NULL OR user_id = $1)
    ORDER BY created_at DESC, id DESC
    OFFSET $2 LIMIT $3
"""  # noqa: S608 (constant text)
PLACED_COUNT = f"""
    SELECT count(*) FROM customer_order
    WHERE status IN ('{OrderStatus.CONFIRMED}', '{OrderStatus.CANCELLED}') AND ($1::uuid IS NULL OR user_id = $1)
"""  # noqa: S608 (constant text)

# -- price: what is bought, before anything is reserved ------------------------------------------
# One statement: the order's total (only while pending, as before) and its lines, positions from 0.
# A data-modifying WITH always runs to completion, so the lines are written either way, as the
# session-based code did.
PRICE = f"""
    WITH priced AS (
        UPDATE customer_order SET email = $2, total_cents = $3, currency = $4, updated_at = now()
        WHERE id = $1 AND status = '{OrderStatus.PENDING}'
    )
    INSERT INTO order_line (id, order_id, position, product_id, sku, name, quantity, unit_price_cents)
    SELECT gen_random_uuid(), $1, line.ordinality - 1, line.product_id, line.sku, line.name, line.quantity,
           line.unit_price_cents
    FROM unnest($5::uuid[], $6::text[], $7::text[], $8::int[], $9::bigint[])
         WITH ORDINALITY AS line(product_id, sku, name, quantity, unit_price_cents, ordinality)
"""  # noqa: S608 (constant text)

# -- status changes (inside a transaction) -------------------------------------------------------
# The guard: the current status, with the row locked until commit, so two changes never interleave.
LOCK_STATUS = "SELECT status FROM customer_order WHERE id = $1 FOR UPDATE"

# Each transition writes the row and its history step in one statement and returns both: the row
# ($1 id, $2 target, $3 current, $4 reason, then the transition's own values) and the step's time.
_TRANSITION = f"""
    WITH changed AS (
        UPDATE customer_order SET status = $2, updated_at = now(), {{values}}
        WHERE id = $1
        RETURNING {ORDER_COLUMNS}
    ),
    step AS (
        INSERT INTO order_status_change (id, order_id, from_status, to_status, reason)
        SELECT gen_random_uuid(), id, $3, $2, $4 FROM changed
        RETURNING created_at
    )
    SELECT changed.*, step.created_at AS step_at FROM changed, step
"""  # noqa: S608 (constant text)
CONFIRM = _TRANSITION.format(values="payment_id = $5, confirmed_at = now(), recovery_lease_until = NULL")
FAIL = _TRANSITION.format(values="failure_status = $5, failure = $6::jsonb, recovery_lease_until = NULL")
# pending -> failed with the compensation still owed: written before anything is given back.
FENCE = _TRANSITION.format(
    values="failure_status = $5, failure = $6::jsonb, compensation_due = true, recovery_lease_until = NULL"
)
CANCEL = _TRANSITION.format(values="cancelled_at = now(), refund_due = $5")

# -- recovery ----------------------------------------------------------------------------------
# One order that needs recovery, leased in the same statement; SKIP LOCKED so replicas never wait
# on each other. $1: stuck before, $2: now, $3: lease until. The partial index
# ix_customer_order_needs_recovery matches the WHERE.
CLAIM_FOR_RECOVERY = f"""
    UPDATE customer_order SET recovery_lease_until = $3
    WHERE id = (
        SELECT id FROM customer_order
        WHERE (status = '{OrderStatus.PENDING}' OR failure ? 'payment_outcome_unknown' OR refund_due
               OR compensation_due)
          AND updated_at < $1
          AND (recovery_lease_until IS NULL OR recovery_lease_until < $2)
        ORDER BY updated_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
"""  # noqa: S608 (constant text)
CLEAR_FAILURE_FLAG = "UPDATE customer_order SET failure = failure - $2::text WHERE id = $1"
CLEAR_REFUND_DUE = "UPDATE customer_order SET refund_due = false WHERE id = $1"
CLEAR_COMPENSATION_DUE = "UPDATE customer_order SET compensation_due = false WHERE id = $1"
# A failed order owes compensation again (a slow checkout's own charge may postdate what was undone);
# $2 adds failure keys (the payment outcome being unknown). updated_at moves, so recovery waits its
# delay before it re-checks the payments.
OWE_COMPENSATION = """
    UPDATE customer_order
    SET compensation_due = true, failure = coalesce(failure, '{}'::jsonb) || $2::jsonb, updated_at = now()
    WHERE id = $1
"""
# Final: no refund is due any more, and why it could not be made is kept for whoever settles it.
RECORD_REFUND_FAILURE = "UPDATE customer_order SET refund_due = false, refund_failure = $2 WHERE id = $1"
