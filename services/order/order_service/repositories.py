"""Orders in the database: each method is one statement or one short transaction, so no lock is held
across a call to another service.

Plain SQL on the platform's asyncpg pool (`Database.read_pool`), statements in `queries` (why: see
there). Single statements run in autocommit; a status change is a short explicit transaction with
its history step and outbox row. Methods return `OrderRecord`s built from what the statements
returned or the caller already holds, so the checkout never re-reads what it just wrote.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec

from commerce_platform.database import Database
from commerce_platform.errors import Conflict
from commerce_platform.events.catalog import EventData
from commerce_platform.events.outbox import record_event_on
from order_service import queries
from order_service.status import OrderStatus, ensure_transition

SOURCE = "order-service"
PLACED = (OrderStatus.CONFIRMED, OrderStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class OrderLineRecord:
    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class StatusChangeRecord:
    from_status: str | None
    to_status: str
    reason: str | None
    created_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as stored (the columns of `models.Order` the service reads), with its lines in
    position order and its status history oldest first."""

    id: UUID
    user_id: UUID
    email: str | None
    status: str
    idempotency_key: str
    request_hash: str
    reservation_id: UUID
    payment_method: str
    shipping_address: dict[str, Any]
    total_cents: int | None
    currency: str | None
    payment_id: UUID | None
    failure_status: int | None
    failure: dict[str, Any] | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    # Cancelled with its refund still to make (see cancellation.py).
    refund_due: bool = False
    # Failed with its payments and hold still to give back (see compensation.py).
    compensation_due: bool = False
    # Why the payment service refused for good to give money back: settled by hand.
    refund_failure: str | None = None
    lines: list[OrderLineRecord] = field(default_factory=list)
    history: list[StatusChangeRecord] = field(default_factory=list)


def _json(value: str | None) -> Any:
    # asyncpg hands jsonb over as text (the platform pool registers no codec).
    return None if value is None else msgspec.json.decode(value)


def _order(
    row: asyncpg.Record, lines: list[OrderLineRecord] | None = None, history: list[StatusChangeRecord] | None = None
) -> OrderRecord:
    """A row of `queries.ORDER_COLUMNS` (by position) into a record."""
    return OrderRecord(
        id=row[0], user_id=row[1], email=row[2], status=row[3], idempotency_key=row[4], request_hash=row[5],
        reservation_id=row[6], payment_method=row[7], shipping_address=_json(row[8]), total_cents=row[9],
        currency=row[10], payment_id=row[11], failure_status=row[12], failure=_json(row[13]),
        created_at=row[14], updated_at=row[15], refund_due=row[16], compensation_due=row[17],
        refund_failure=row[18], lines=lines or [], history=history or [],
    )


async def _with_details(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[OrderRecord]:
    """Orders of `rows` with their lines and history (two statements for any number of orders)."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    lines: dict[UUID, list[OrderLineRecord]] = {order_id: [] for order_id in ids}
    history: dict[UUID, list[StatusChangeRecord]] = {order_id: [] for order_id in ids}
    for line in await conn.fetch(queries.LINES_OF, ids):
        lines[line[0]].append(OrderLineRecord(line[1], line[2], line[3], line[4], line[5]))
    for change in await conn.fetch(queries.HISTORY_OF, ids):
        history[change[0]].append(StatusChangeRecord(change[1], change[2], change[3], change[4]))
    return [_order(row, lines[row[0]], history[row[0]]) for row in rows]


class OrderBook:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def open(
        self, *, user_id: UUID, idempotency_key: str, request_hash: str, shipping_address: dict[str, Any],
        payment_method: str,
    ) -> tuple[OrderRecord, bool]:
        """The order for this key: a new `pending` one (True), or the one an earlier request made (False)."""
        row = await self.database.fetchrow(
            queries.OPEN, uuid4(), user_id, idempotency_key, request_hash, uuid4(), payment_method,
            msgspec.json.encode(shipping_address).decode(),
        )
        if row is not None:
            # Built from the inserted row: a new order has no lines yet and one history step.
            return _order(row, history=[StatusChangeRecord(None, row[3], None, row["step_at"])]), True
        earlier = await self.by_key(user_id, idempotency_key)
        assert earlier is not None  # the conflicting row committed before ON CONFLICT gave way
        return earlier, False

    async def by_key(self, user_id: UUID, idempotency_key: str) -> OrderRecord | None:
        pool = await self.database.read_pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(queries.BY_KEY, user_id, idempotency_key)
            return None if row is None else (await _with_details(conn, [row]))[0]

    async def get(self, order_id: UUID) -> OrderRecord | None:
        pool = await self.database.read_pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(queries.BY_ID, order_id)
            return None if row is None else (await _with_details(conn, [row]))[0]

    async def wait_until_settled(self, order_id: UUID, *, timeout_seconds: float) -> OrderRecord:
        """A concurrent request with the same key is still checking out: wait for its outcome."""
        deadline = time.monotonic() + timeout_seconds
        delay = 0.05
        while True:
            order = await self.get(order_id)
            assert order is not None
            if order.status != OrderStatus.PENDING or time.monotonic() > deadline:
                return order
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def price(
        self, order: OrderRecord, *, email: str, lines: list[dict[str, Any]], total_cents: int, currency: str
    ) -> OrderRecord:
        """Record what is being bought before anything is reserved, so recovery knows what to undo.
        Returns `order` with what was written (its `updated_at` is the one it was opened with)."""
        await self.database.fetchrow(
            queries.PRICE, order.id, email, total_cents, currency,
            [line["product_id"] for line in lines], [line["sku"] for line in lines],
            [line["name"] for line in lines], [line["quantity"] for line in lines],
            [line["unit_price_cents"] for line in lines],
        )
        return replace(
            order, email=email, total_cents=total_cents, currency=currency,
            lines=[
                OrderLineRecord(line["product_id"], line["sku"], line["name"], line["quantity"],
                                line["unit_price_cents"])
                for line in lines
            ],
        )

    async def confirm(self, order: OrderRecord, *, payment_id: UUID, event: EventData, reason: str) -> OrderRecord:
        """pending -> confirmed, with the OrderCreated outbox row in the same transaction.

        `order` must carry its lines and history (as `price` and `get` return it): the confirmed
        order is built from them and what this transaction wrote. The guard makes that exact: only
        a pending order gets here, and a pending order's lines and history do not change."""
        return await self._announced_transition(
            order, OrderStatus.CONFIRMED, queries.CONFIRM, reason, event, payment_id
        )

    async def fail(
        self, order_id: UUID, *, status_code: int, failure: dict[str, Any], reason: str
    ) -> None:
        """pending -> failed, with nothing left to give back (undoing a checkout uses `fence`). A no-op
        on an order that already failed: the first failure recorded stands."""
        pool = await self.database.read_pool()
        async with pool.acquire() as conn, conn.transaction():
            current = await self._lock_status(conn, order_id)
            if current == OrderStatus.FAILED:
                return
            await self._write_transition(
                conn, order_id, current, OrderStatus.FAILED, queries.FAIL, reason, status_code,
                msgspec.json.encode(failure).decode(),
            )

    async def fence(
        self, order_id: UUID, *, status_code: int, failure: dict[str, Any], reason: str
    ) -> OrderStatus:
        """Take the order out of `pending` before anything of it is undone: pending -> failed with
        `compensation_due`, under the row lock. Returns its status after: `failed` means the caller
        (or recovery, should the caller fail) owes the compensation; `confirmed` or `cancelled` means
        it was placed meanwhile, and nothing may be undone.

        An order that already failed owes compensation again, its first failure kept (plus
        `payment_outcome_unknown` if `failure` has it): the caller's own charge may have gone through
        after whoever failed it had undone the rest."""
        pool = await self.database.read_pool()
        async with pool.acquire() as conn, conn.transaction():
            current = OrderStatus(await self._lock_status(conn, order_id))
            if current == OrderStatus.PENDING:
                await self._write_transition(
                    conn, order_id, current, OrderStatus.FAILED, queries.FENCE, reason, status_code,
                    msgspec.json.encode(failure).decode(),
                )
                return OrderStatus.FAILED
            if current == OrderStatus.FAILED:
                kept = {k: v for k, v in failure.items() if k == "payment_outcome_unknown"}
                await conn.execute(queries.OWE_COMPENSATION, order_id, msgspec.json.encode(kept).decode())
            return current

    async def clear_compensation_due(self, order_id: UUID) -> None:
        await self.database.fetchrow(queries.CLEAR_COMPENSATION_DUE, order_id)

    async def record_refund_failure(self, order_id: UUID, detail: str) -> None:
        """A refund or void refused for good: no refund is due any more, the reason is kept."""
        await self.database.fetchrow(queries.RECORD_REFUND_FAILURE, order_id, detail)

    async def cancel(self, order: OrderRecord, *, event: EventData, reason: str, refund_due: bool) -> OrderRecord:
        """confirmed -> cancelled, with the OrderCancelled outbox row and whether a refund is still
        to be made, in the same transaction. `order` carries its lines and history (a confirmed
        order's do not change any more)."""
        return await self._announced_transition(
            order, OrderStatus.CANCELLED, queries.CANCEL, reason, event, refund_due
        )

    async def clear_refund_due(self, order_id: UUID) -> None:
        await self.database.fetchrow(queries.CLEAR_REFUND_DUE, order_id)

    async def clear_failure_flag(self, order_id: UUID, flag: str) -> None:
        await self.database.fetchrow(queries.CLEAR_FAILURE_FLAG, order_id, flag)

    async def list(self, *, user_id: UUID | None, page: int, page_size: int) -> tuple[list[OrderRecord], int]:
        # Pending and failed checkouts are not orders a customer placed: they exist for
        # idempotency and recovery only.
        pool = await self.database.read_pool()
        async with pool.acquire() as conn:
            total = await conn.fetchval(queries.PLACED_COUNT, user_id)
            rows = await conn.fetch(queries.PLACED_PAGE, user_id, (page - 1) * page_size, page_size)
            return await _with_details(conn, rows), int(total or 0)

    async def claim_for_recovery(self, *, stuck_after_seconds: int, lease_seconds: int) -> OrderRecord | None:
        """One order that needs recovery, leased to this replica: pending too long, failed with its
        compensation owed or a payment whose outcome was unknown, or cancelled with its refund due."""
        now = datetime.datetime.now(datetime.UTC)
        row = await self.database.fetchrow(
            queries.CLAIM_FOR_RECOVERY,
            now - datetime.timedelta(seconds=stuck_after_seconds), now, now + datetime.timedelta(seconds=lease_seconds),
        )
        return None if row is None else await self.get(row[0])

    async def _announced_transition(
        self, order: OrderRecord, target: OrderStatus, statement: str, reason: str, event: EventData,
        *values: Any,
    ) -> OrderRecord:
        """A transition and its event's outbox row in one transaction; the order as it is after,
        built from `order`'s lines and history (which no longer change) and what was written."""
        pool = await self.database.read_pool()
        async with pool.acquire() as conn, conn.transaction():
            current = await self._lock_status(conn, order.id)
            row, step = await self._write_transition(conn, order.id, current, target, statement, reason, *values)
            await record_event_on(conn, event, source=SOURCE)
        return _order(row, order.lines, [*order.history, step])

    @staticmethod
    async def _lock_status(conn: asyncpg.Connection, order_id: UUID) -> str:
        """The order's status, its row locked until the caller's transaction ends."""
        current: str | None = await conn.fetchval(queries.LOCK_STATUS, order_id)
        if current is None:
            raise Conflict("order vanished")
        return current

    @staticmethod
    async def _write_transition(
        conn: asyncpg.Connection, order_id: UUID, current: str, target: OrderStatus, statement: str, reason: str,
        *values: Any,
    ) -> tuple[asyncpg.Record, StatusChangeRecord]:
        """Check the state machine, then write the change and its history step; the order row as
        written and the step. The caller holds the row's lock (`_lock_status`)."""
        ensure_transition(current, target)
        row = await conn.fetchrow(statement, order_id, target.value, current, reason, *values)
        assert row is not None  # the row is locked, so it is still there
        return row, StatusChangeRecord(current, target.value, reason, row["step_at"])
