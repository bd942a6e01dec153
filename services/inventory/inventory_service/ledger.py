"""The stock ledger: the one place that locks and changes stock rows, records movements and
announces every change as StockChanged, all in the caller's transaction.

Locking rules, which together make concurrent checkouts deadlock-free and oversell-proof:
- stock rows are locked in one global order (`ORDER BY product_id ... FOR UPDATE`), all at once;
- a reservation row is only ever changed by a transaction that already holds the locks of all its
  products, so reservation rows never take part in a lock cycle (the one exception, pinning a hold,
  is a single statement that takes no other lock);
- holds past their expiry that touch the rows being locked are expired first, inside the same
  transaction, so an expired hold never makes stock look short. A pinned hold expires at
  'infinity', which no expiry query (`<= now()`) matches.

Why plain SQL on an asyncpg connection rather than the ORM: every checkout reserves and commits,
and the ORM's unit of work cost most of the service's CPU per checkout (issue 5). Rows are locked,
so the new figures are computed here and written back in one statement (stock rows, movements,
outbox rows and the caller's reservation change together), which keeps a checkout's transaction to
a few round trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from advanced_alchemy.mixins.uuid import uuid7  # type: ignore[attr-defined]  # the models' id generator
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.events import outbox_row, stock_changed
from inventory_service.models import MovementReason

# StockChanged reasons for changes that are not movements of on_hand.
RESERVED = "reserved"
RESERVATION_RELEASED = "reservation_released"
RESERVATION_EXPIRED = "reservation_expired"

HoldLines = dict[UUID, dict[UUID, int]]  # reservation id -> product id -> quantity


@dataclass(slots=True)
class StockRow:
    """One locked `stock_item` row; changed in memory, written back by `StockLedger.finish`."""

    product_id: UUID
    on_hand: int
    reserved: int
    revision: int
    discontinued_at: datetime | None
    # `available` as the last StockChanged about this row announced it (or as committed when locked),
    # so the next one can say whether it moved.
    announced_available: int = field(init=False)

    def __post_init__(self) -> None:
        self.announced_available = self.available

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Transition:
    """A reservation status change written with the stock changes, only if the reservation is still
    `from_status` (else nothing at all is written and `finish` returns None)."""

    reservation_id: UUID
    from_status: str
    to_status: str


async def connection_of(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's transaction."""
    connection = await session.connection()
    driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy sends BEGIN lazily with the first statement; begin through it, so the session
        # still commits or rolls back everything written on the raw connection.
        await connection.exec_driver_sql("SELECT 1")
    return driver


_CREATE_MISSING = """
INSERT INTO stock_item (product_id) SELECT unnest($1::uuid[]) ORDER BY 1 ON CONFLICT DO NOTHING
"""

# The first deletion time stays.
_DISCONTINUE = """
INSERT INTO stock_item (product_id, discontinued_at) VALUES ($1, $2)
ON CONFLICT (product_id) DO UPDATE
SET discontinued_at = coalesce(stock_item.discontinued_at, EXCLUDED.discontinued_at)
"""

_LOCK = """
SELECT product_id, on_hand, reserved, revision, discontinued_at
FROM stock_item WHERE product_id = ANY($1::uuid[])
ORDER BY product_id FOR UPDATE
"""

# Read without locks: lines never change, and statuses are re-checked under the locks.
_STALE_LINES = """
SELECT l.reservation_id, l.product_id, l.quantity
FROM reservation_line l
WHERE l.reservation_id IN (
    SELECT r.id FROM reservation r JOIN reservation_line x ON x.reservation_id = r.id
    WHERE r.status = 'held' AND r.expires_at <= now() AND x.product_id = ANY($1::uuid[])
)
"""

_OLDEST_STALE_LINES = """
SELECT l.reservation_id, l.product_id, l.quantity
FROM reservation_line l
WHERE l.reservation_id IN (
    SELECT id FROM reservation WHERE status = 'held' AND expires_at <= now() ORDER BY expires_at LIMIT $1
)
"""

_EXPIRE = """
UPDATE reservation SET status = 'expired', closed_at = now(), updated_at = now()
WHERE id = ANY($1::uuid[]) AND status = 'held' AND expires_at <= now()
RETURNING id
"""

# Every write of one `finish`, in one statement. `{guard}` makes each part conditional on the
# reservation transition (`moved`) when there is one.
_WRITE = """
WITH {transition}stock AS (
    UPDATE stock_item s
    SET on_hand = c.on_hand, reserved = c.reserved, revision = c.revision, updated_at = now()
    FROM unnest($1::uuid[], $2::int[], $3::int[], $4::bigint[]) AS c(product_id, on_hand, reserved, revision)
    WHERE s.product_id = c.product_id{and_guard}
), movements AS (
    INSERT INTO stock_movement (id, product_id, delta, on_hand_after, reason, note, actor_id, reservation_id)
    SELECT * FROM unnest($5::uuid[], $6::uuid[], $7::int[], $8::int[], $9::text[], $10::text[], $11::uuid[],
                         $12::uuid[]){where_guard}
), events AS (
    INSERT INTO outbox (id, topic, event_type, payload, traceparent)
    SELECT * FROM unnest($13::uuid[], $14::text[], $15::text[], $16::bytea[], $17::text[]){where_guard}
), lines AS (
    INSERT INTO reservation_line (reservation_id, product_id, quantity)
    SELECT $18::uuid, * FROM unnest($19::uuid[], $20::int[]){where_guard}
)
{result}
"""
_TRANSITION = """moved AS (
    UPDATE reservation
    SET status = $22::text,
        committed_at = CASE WHEN $22::text = 'committed' THEN clock_timestamp() ELSE committed_at END,
        closed_at = CASE WHEN $22::text = 'committed' THEN closed_at ELSE clock_timestamp() END,
        updated_at = now()
    WHERE id = $18 AND status = $21::text
    RETURNING committed_at, closed_at
), """
_GUARD = "EXISTS (SELECT FROM moved)"
_WRITE_PLAIN = _WRITE.format(transition="", and_guard="", where_guard="", result="SELECT NULL")
_WRITE_MOVED = _WRITE.format(
    transition=_TRANSITION,
    and_guard=f" AND {_GUARD}",
    where_guard=f" WHERE {_GUARD}",
    result="SELECT committed_at, closed_at FROM moved",
)


class StockLedger:
    """Stock changes of one transaction. Call `finish()` once at the end to write and announce them."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        # Product id -> (row, reason of its latest change): one StockChanged per product and transaction.
        self._changed: dict[UUID, tuple[StockRow, str]] = {}
        self._movements: list[tuple[Any, ...]] = []

    # -- locking ---------------------------------------------------------------------------------
    async def create_missing(self, product_ids: Iterable[UUID]) -> None:
        """Stock records at zero for products that have none yet (a no-op for the others)."""
        wanted = sorted(set(product_ids))
        if wanted:
            await self.conn.execute(_CREATE_MISSING, wanted)

    async def discontinue(self, product_id: UUID, when: datetime) -> None:
        """A deleted product can no longer be reserved. Its record stays for the audit trail and for
        holds already in flight; one arriving before ProductCreated leaves a tombstone. No figure
        changes, so there is no StockChanged to announce."""
        await self.conn.execute(_DISCONTINUE, product_id, when)

    async def lock(self, product_ids: Iterable[UUID]) -> dict[UUID, StockRow]:
        """Lock the stock rows of `product_ids` that exist (missing ones are simply absent from the
        result), after expiring the holds past their expiry that touch them."""
        wanted = set(product_ids)
        if not wanted:
            return {}
        stale = _hold_lines(await self.conn.fetch(_STALE_LINES, list(wanted)))
        involved = wanted.union(*stale.values()) if stale else wanted
        rows = await self._lock_rows(involved)
        if stale and await self._expire(stale, rows):
            # Announce the freed units now: the caller may still refuse its own change (a 409 that an
            # event handler acknowledges), and the expiry must not commit unannounced.
            await self.finish()
        return {product_id: row for product_id, row in rows.items() if product_id in wanted}

    async def _lock_rows(self, product_ids: set[UUID]) -> dict[UUID, StockRow]:
        if not product_ids:
            return {}
        return {row[0]: StockRow(*row) for row in await self.conn.fetch(_LOCK, list(product_ids))}

    async def _expire(self, holds: HoldLines, rows: dict[UUID, StockRow]) -> list[UUID]:
        """Expire the holds that are still held and past expiry; the caller holds all their rows."""
        expired: list[UUID] = [row[0] for row in await self.conn.fetch(_EXPIRE, list(holds))]
        for reservation_id in expired:
            for product_id, quantity in holds[reservation_id].items():
                self.unhold(rows[product_id], quantity, reason=RESERVATION_EXPIRED)
        return expired

    async def sweep_expired(self, limit: int) -> int:
        """Expire up to `limit` holds past their expiry, oldest first; returns how many."""
        holds = _hold_lines(await self.conn.fetch(_OLDEST_STALE_LINES, limit))
        if not holds:
            return 0
        rows = await self._lock_rows(set().union(*holds.values()))
        return len(await self._expire(holds, rows))

    # -- changes ---------------------------------------------------------------------------------
    def hold(self, item: StockRow, quantity: int) -> None:
        item.reserved += quantity
        self._touch(item, RESERVED)

    def unhold(self, item: StockRow, quantity: int, *, reason: str = RESERVATION_RELEASED) -> None:
        item.reserved -= quantity
        self._touch(item, reason)

    def ship(self, item: StockRow, quantity: int, *, reservation_id: UUID) -> None:
        """Held units leave the warehouse: out of `on_hand` and `reserved` together."""
        item.reserved -= quantity
        self.move(item, -quantity, MovementReason.SALE, reservation_id=reservation_id)

    def move(
        self,
        item: StockRow,
        delta: int,
        reason: MovementReason,
        *,
        note: str | None = None,
        actor_id: UUID | None = None,
        reservation_id: UUID | None = None,
    ) -> None:
        """Change `on_hand` by `delta` and write the movement that explains it."""
        item.on_hand += delta
        self._movements.append(
            (uuid7(), item.product_id, delta, item.on_hand, reason.value, note, actor_id, reservation_id)
        )
        self._touch(item, reason.value)

    def _touch(self, item: StockRow, reason: str) -> None:
        self._changed[item.product_id] = (item, reason)

    async def finish(
        self,
        *,
        new_lines: tuple[UUID, Mapping[UUID, int]] | None = None,
        transition: Transition | None = None,
    ) -> asyncpg.Record | None:
        """Bump each changed row's revision and write rows, movements, their StockChanged events and
        the caller's reservation change (`new_lines` of a new reservation, or a status `transition`)
        in one statement; a violated constraint fails the request here rather than at commit.

        With a `transition`, returns the reservation's `(committed_at, closed_at)`, or None (and
        nothing written) when the reservation was no longer in `transition.from_status`."""
        changed, movements = list(self._changed.values()), self._movements
        self._changed, self._movements = {}, []
        if not changed and new_lines is None and transition is None:
            return None
        for item, _reason in changed:
            item.revision += 1
        events = [outbox_row(stock_changed(item, reason)) for item, reason in changed]
        for item, _reason in changed:
            item.announced_available = item.available
        line_ids, line_quantities = (list(new_lines[1].keys()), list(new_lines[1].values())) if new_lines else ([], [])
        reservation_id = transition.reservation_id if transition else (new_lines[0] if new_lines else None)
        args: list[Any] = [
            *_columns(((i.product_id, i.on_hand, i.reserved, i.revision) for i, _ in changed), 4),
            *_columns(movements, 8),
            *_columns(events, 5),
            reservation_id,
            line_ids,
            line_quantities,
        ]
        if transition is None:
            await self.conn.execute(_WRITE_PLAIN, *args)
            return None
        return await self.conn.fetchrow(_WRITE_MOVED, *args, transition.from_status, transition.to_status)


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows into one list per column, as `unnest` takes them."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _hold_lines(records: Iterable[asyncpg.Record]) -> HoldLines:
    holds: HoldLines = defaultdict(dict)
    for reservation_id, product_id, quantity in records:
        holds[reservation_id][product_id] = quantity
    return dict(holds)
