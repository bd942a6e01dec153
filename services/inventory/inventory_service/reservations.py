"""Checkout reservations: hold stock all or nothing, then commit it (a sale) or release it.

A hold expires unless it is pinned: once the order service knows the payment went through it pins
the hold (`expires_at` becomes 'infinity', which no expiry query matches), so OrderCreated commits
it however late the event is consumed. A pinned hold still settles normally (commit, release,
cancel).

Every operation is idempotent, because the order service retries over the network and events are
redelivered: the reservation id is the caller's, and each transition re-checks the status under
the locks of the reservation's stock rows (see `ledger.py` for the locking rules).

Plain SQL on an asyncpg connection (see `ledger.py` for why): the HTTP routes run each call in its
own transaction on the platform's asyncpg pool (`Reservations`), event handlers in the consumer's
transaction, so the inbox record commits with the change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import msgspec

from commerce_platform.database import Database
from commerce_platform.errors import Conflict, NotFound
from inventory_service.ledger import StockLedger, StockRow, Transition
from inventory_service.models import MovementReason, ReservationStatus
from inventory_service.schemas import ShortLine


class InsufficientStock(Conflict):
    """409 listing every line the stock cannot cover; nothing was reserved."""

    problem_type = "insufficient-stock"

    def __init__(self, short: list[ShortLine]) -> None:
        super().__init__(
            "not enough stock for every line; nothing was reserved",
            extra={"short_lines": msgspec.to_builtins(short)},
        )


@dataclass(frozen=True, slots=True)
class ReservationLine:
    product_id: UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation as read or written; lines in product id order. `expires_at` is None once the
    hold is pinned (stored as 'infinity', which a Python datetime cannot represent)."""

    id: UUID
    status: str
    expires_at: datetime | None
    created_at: datetime
    committed_at: datetime | None
    closed_at: datetime | None
    lines: list[ReservationLine]
    # Released by its order's cancellation (see `cancel_order`).
    released_by_cancellation: bool = False

    def quantities(self) -> dict[UUID, int]:
        return {line.product_id: line.quantity for line in self.lines}

    @property
    def pinned(self) -> bool:
        return self.expires_at is None

    def overdue(self, now: datetime) -> bool:
        """Held past its expiry: it holds nothing any more, whether or not it was swept yet."""
        return self.status == ReservationStatus.HELD and self.expires_at is not None and self.expires_at <= now


_FIND = """
SELECT r.id, r.status, NULLIF(r.expires_at, 'infinity'), r.created_at, r.committed_at, r.closed_at,
       array_agg(l.product_id ORDER BY l.product_id) FILTER (WHERE l.product_id IS NOT NULL) AS product_ids,
       array_agg(l.quantity ORDER BY l.product_id) FILTER (WHERE l.product_id IS NOT NULL) AS quantities,
       r.released_by_cancellation
FROM reservation r LEFT JOIN reservation_line l ON l.reservation_id = r.id
WHERE r.id = $1
GROUP BY r.id
"""

# Claim the id first: a retry of this very request (concurrent or not) finds it taken and gets the
# reservation back. A concurrent claimer of the same id waits here, before taking any stock lock.
_CLAIM = """
INSERT INTO reservation (id, status, expires_at) VALUES ($1, 'held', now() + make_interval(secs => $2))
ON CONFLICT (id) DO NOTHING
RETURNING expires_at, created_at
"""

_LOCK_STATUS = "SELECT status FROM reservation WHERE id = $1 FOR UPDATE"
# The caller holds the row's lock (`_LOCK_STATUS`) and all its products' locks.
_MARK_RELEASED_BY_CANCELLATION = "UPDATE reservation SET released_by_cancellation = true WHERE id = $1"

# One guarded statement: only a live hold is pinned (an overdue one stays for the sweeper), and an
# expiry that committed first makes the guard fail when Postgres re-checks the locked row. It changes
# no stock and takes no stock lock, so it cannot take part in a lock cycle.
_PIN = """
UPDATE reservation SET expires_at = 'infinity', updated_at = now()
WHERE id = $1 AND status = 'held' AND expires_at > now()
RETURNING id
"""

# Releasing an id nobody reserved leaves a released row with no lines, so a reserve with that id
# arriving later (its request was still on its way) is refused. If a reserve holds the id uncommitted,
# the insert waits for it: then the conflict means its hold exists and is released normally.
_TOMBSTONE = """
INSERT INTO reservation (id, status, expires_at, closed_at) VALUES ($1, 'released', now(), now())
ON CONFLICT (id) DO NOTHING
RETURNING expires_at, created_at, closed_at
"""


def _bookable(item: StockRow | None) -> int:
    """Units a new hold may take: none for a product we have no stock record for, or that was deleted."""
    if item is None or item.discontinued_at is not None:
        return 0
    return item.available


class ReservationService:
    """Reservations of one transaction, open on an asyncpg connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, reservation_id: UUID) -> Reservation:
        reservation = await self.find(reservation_id)
        if reservation is None:
            raise NotFound("reservation not found")
        return reservation

    async def find(self, reservation_id: UUID) -> Reservation | None:
        row = await self._conn.fetchrow(_FIND, reservation_id)
        if row is None:
            return None
        lines = [ReservationLine(p, q) for p, q in zip(row[6] or (), row[7] or (), strict=True)]
        return Reservation(row[0], row[1], row[2], row[3], row[4], row[5], lines, row[8])

    async def reserve(
        self, reservation_id: UUID, quantities: Mapping[UUID, int], ttl_seconds: int
    ) -> tuple[Reservation, bool]:
        """Hold every line or none. Returns the reservation and whether this call created it."""
        claimed = await self._conn.fetchrow(_CLAIM, reservation_id, float(ttl_seconds))
        if claimed is None:
            existing = await self.get(reservation_id)
            self._require_not_closed(existing)
            return self._same_request(existing, quantities), False
        ledger = StockLedger(self._conn)
        stock = await ledger.lock(quantities)
        ordered = sorted(quantities.items())
        short = [
            ShortLine(product_id=product_id, requested=quantity, available=max(_bookable(stock.get(product_id)), 0))
            for product_id, quantity in ordered
            if _bookable(stock.get(product_id)) < quantity
        ]
        if short:
            raise InsufficientStock(short)  # rolls the claimed id back with everything else
        for product_id, quantity in ordered:
            ledger.hold(stock[product_id], quantity)
        await ledger.finish(new_lines=(reservation_id, dict(ordered)))
        # Built from what was written: no re-read.
        expires_at, created_at = claimed
        lines = [ReservationLine(product_id, quantity) for product_id, quantity in ordered]
        held = Reservation(reservation_id, ReservationStatus.HELD.value, expires_at, created_at, None, None, lines)
        return held, True

    async def commit(self, reservation_id: UUID) -> Reservation:
        """The held units are sold: they leave `on_hand` and `reserved`. Committing twice is a no-op."""
        reservation = await self.get(reservation_id)
        if reservation.status == ReservationStatus.COMMITTED:
            return reservation
        self._require_held(reservation, "commit")
        ledger = StockLedger(self._conn)
        stock = await ledger.lock(reservation.quantities())
        for line in reservation.lines:
            ledger.ship(stock[line.product_id], line.quantity, reservation_id=reservation.id)
        moved = await ledger.finish(transition=self._transition(reservation, ReservationStatus.COMMITTED))
        if moved is not None:
            return replace(reservation, status=ReservationStatus.COMMITTED.value, committed_at=moved[0])
        # It changed before we held its rows (committed by a concurrent call, or expired just now
        # by `lock`); nothing was written, and under the locks it cannot change any more.
        reservation = await self.get(reservation_id)
        if reservation.status == ReservationStatus.COMMITTED:
            return reservation
        self._require_held(reservation, "commit")
        raise RuntimeError(f"reservation {reservation_id} is held but could not be committed")

    async def pin(self, reservation_id: UUID) -> Reservation:
        """Keep a live hold until its order settles: it no longer expires. Pinning a pinned or
        committed reservation is a no-op; an expired, released or overdue one is 409 (not pinned)."""
        pinned = await self._conn.fetchval(_PIN, reservation_id)
        reservation = await self.get(reservation_id)
        if pinned is not None or reservation.status == ReservationStatus.COMMITTED:
            return reservation
        status = ReservationStatus.EXPIRED.value if reservation.overdue(datetime.now(UTC)) else reservation.status
        raise Conflict(
            f"cannot pin a reservation that is {status}",
            problem_type="reservation-not-held",
            extra={"reservation_status": status},
        )

    async def release(self, reservation_id: UUID) -> Reservation:
        """Give held units back to `available`. Releasing a released or expired hold is a no-op;
        a committed one is 409 (cancelling its order restocks it instead). Releasing an unknown id
        leaves a released tombstone, so a reserve with that id arriving later is refused."""
        reservation = await self.find(reservation_id) or await self._tombstone(reservation_id)
        if reservation.status in _NOT_HOLDING:
            return reservation
        self._require_not_sold(reservation)
        ledger = StockLedger(self._conn)
        stock = await ledger.lock(reservation.quantities())
        for line in reservation.lines:
            ledger.unhold(stock[line.product_id], line.quantity)
        moved = await ledger.finish(transition=self._transition(reservation, ReservationStatus.RELEASED))
        if moved is not None:
            return replace(reservation, status=ReservationStatus.RELEASED.value, closed_at=moved[1])
        reservation = await self.get(reservation_id)  # see `commit`
        if reservation.status in _NOT_HOLDING:
            return reservation
        self._require_not_sold(reservation)
        raise RuntimeError(f"reservation {reservation_id} is held but could not be released")

    async def cancel_order(self, reservation_id: UUID) -> Reservation | None:
        """Undo an order's reservation whatever state it reached: release a hold, restock a sale.
        None if there is no such reservation."""
        reservation = await self.find(reservation_id)
        if reservation is None:
            return None
        if reservation.status in _SETTLED_AFTER_CANCEL:
            return reservation
        ledger = StockLedger(self._conn)
        stock = await ledger.lock(reservation.quantities())
        # Rare path: read the status under the row lock (`lock` may have just expired it).
        status = await self._conn.fetchval(_LOCK_STATUS, reservation_id)
        if status == ReservationStatus.HELD:
            for line in reservation.lines:
                ledger.unhold(stock[line.product_id], line.quantity)
            target = ReservationStatus.RELEASED
        elif status == ReservationStatus.COMMITTED:
            for line in reservation.lines:
                ledger.move(
                    stock[line.product_id], line.quantity, MovementReason.ORDER_CANCELLED, reservation_id=reservation.id
                )
            target = ReservationStatus.RESTOCKED
        else:
            await ledger.finish()
            return await self.get(reservation_id)
        moved = await ledger.finish(transition=Transition(reservation_id, status, target.value))
        if moved is None:  # cannot happen: the row is locked and was just read
            raise RuntimeError(f"reservation {reservation_id} changed under its lock")
        released = target == ReservationStatus.RELEASED
        if released:
            # Cancelled before OrderCreated was consumed (one unordered queue): that event is expected.
            await self._conn.execute(_MARK_RELEASED_BY_CANCELLATION, reservation_id)
        return replace(
            reservation, status=target.value, committed_at=moved[0], closed_at=moved[1],
            released_by_cancellation=released,
        )

    # -- internals ----------------------------------------------------------------------------------
    async def _tombstone(self, reservation_id: UUID) -> Reservation:
        """The released tombstone written now, or the reservation a concurrent reserve committed."""
        row = await self._conn.fetchrow(_TOMBSTONE, reservation_id)
        if row is None:
            return await self.get(reservation_id)
        expires_at, created_at, closed_at = row
        released = ReservationStatus.RELEASED.value
        return Reservation(reservation_id, released, expires_at, created_at, None, closed_at, [])

    @staticmethod
    def _transition(reservation: Reservation, to: ReservationStatus) -> Transition:
        return Transition(reservation.id, ReservationStatus.HELD.value, to.value)

    @staticmethod
    def _same_request(existing: Reservation, quantities: Mapping[UUID, int]) -> Reservation:
        if existing.quantities() != dict(quantities):
            raise Conflict("this reservation id is already used for different lines")
        return existing

    @staticmethod
    def _require_not_closed(existing: Reservation) -> None:
        # Its lines were given back (or were never held, for a release's tombstone): holding stock
        # for it again would leave a hold its caller has already given up on.
        if existing.status in _NOT_HOLDING:
            raise Conflict(
                f"this reservation id is already {existing.status}; reserve with a new id",
                problem_type="reservation-closed",
                extra={"reservation_status": existing.status},
            )

    @staticmethod
    def _require_held(reservation: Reservation, action: str) -> None:
        if reservation.status != ReservationStatus.HELD:
            raise Conflict(
                f"cannot {action} a reservation that is {reservation.status}",
                extra={"reservation_status": reservation.status},
            )

    @staticmethod
    def _require_not_sold(reservation: Reservation) -> None:
        if reservation.status in (ReservationStatus.COMMITTED, ReservationStatus.RESTOCKED):
            raise Conflict(
                f"cannot release a reservation that is {reservation.status}; cancel its order to restock",
                extra={"reservation_status": reservation.status},
            )


class Reservations:
    """The HTTP routes' reservations: each call in its own short transaction on the asyncpg pool."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @asynccontextmanager
    async def _service(self) -> AsyncIterator[ReservationService]:
        async with self.database.transaction() as conn:
            yield ReservationService(conn)

    async def reserve(
        self, reservation_id: UUID, quantities: Mapping[UUID, int], ttl_seconds: int
    ) -> tuple[Reservation, bool]:
        async with self._service() as service:
            return await service.reserve(reservation_id, quantities, ttl_seconds)

    async def get(self, reservation_id: UUID) -> Reservation:
        # One statement: no transaction needed.
        pool = await self.database.read_pool()
        async with pool.acquire() as conn:
            return await ReservationService(conn).get(reservation_id)

    async def commit(self, reservation_id: UUID) -> Reservation:
        async with self._service() as service:
            return await service.commit(reservation_id)

    async def pin(self, reservation_id: UUID) -> Reservation:
        async with self._service() as service:
            return await service.pin(reservation_id)

    async def release(self, reservation_id: UUID) -> Reservation:
        async with self._service() as service:
            return await service.release(reservation_id)


_NOT_HOLDING = frozenset({ReservationStatus.RELEASED, ReservationStatus.EXPIRED})
_SETTLED_AFTER_CANCEL = frozenset({ReservationStatus.RELEASED, ReservationStatus.EXPIRED, ReservationStatus.RESTOCKED})
