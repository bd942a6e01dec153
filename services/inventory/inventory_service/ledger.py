"""The stock ledger: the one place that locks and changes stock rows, records movements and
announces every change as StockChanged, all in the caller's transaction.

Locking rules, which together make concurrent checkouts deadlock-free and oversell-proof:
- stock rows are locked in one global order (`ORDER BY product_id ... FOR UPDATE`), all at once;
- a reservation row is only ever changed by a transaction that already holds the locks of all its
  products, so reservation rows never take part in a lock cycle;
- holds past their expiry that touch the rows being locked are expired first, inside the same
  transaction, so an expired hold never makes stock look short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.events import record_stock_changed
from inventory_service.models import (
    MovementReason,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockItem,
    StockMovement,
)

# StockChanged reasons for changes that are not movements of on_hand.
RESERVED = "reserved"
RESERVATION_RELEASED = "reservation_released"
RESERVATION_EXPIRED = "reservation_expired"

HoldLines = dict[UUID, dict[UUID, int]]  # reservation id -> product id -> quantity


class StockLedger:
    """Stock changes of one transaction. Call `finish()` once at the end to announce them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Product id -> (row, reason of its latest change): one StockChanged per product and transaction.
        self._changed: dict[UUID, tuple[StockItem, str]] = {}

    # -- locking ---------------------------------------------------------------------------------
    async def create_missing(self, product_ids: Iterable[UUID]) -> None:
        """Stock records at zero for products that have none yet (a no-op for the others)."""
        rows = [{"product_id": product_id} for product_id in sorted(set(product_ids))]
        if rows:
            await self.session.execute(insert(StockItem).values(rows).on_conflict_do_nothing())

    async def lock(self, product_ids: Iterable[UUID]) -> dict[UUID, StockItem]:
        """Lock the stock rows of `product_ids` that exist (missing ones are simply absent from the
        result), after expiring the holds past their expiry that touch them."""
        wanted = set(product_ids)
        stale = await self._stale_holds(wanted)
        involved = wanted.union(*stale.values()) if stale else wanted
        rows = await self._lock_rows(involved)
        if stale and await self._expire(stale, rows):
            # Announce the freed units now: the caller may still refuse its own change (a 409 that an
            # event handler acknowledges), and the expiry must not commit unannounced.
            await self.finish()
        return {product_id: row for product_id, row in rows.items() if product_id in wanted}

    async def _lock_rows(self, product_ids: set[UUID]) -> dict[UUID, StockItem]:
        if not product_ids:
            return {}
        statement = (
            select(StockItem)
            .where(StockItem.product_id.in_(product_ids))
            .order_by(StockItem.product_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {row.product_id: row for row in await self.session.scalars(statement)}

    async def _stale_holds(self, product_ids: set[UUID]) -> HoldLines:
        """Every line of every held reservation past its expiry that holds one of `product_ids`.
        Read without locks: lines never change, and statuses are re-checked under the locks."""
        if not product_ids:
            return {}
        stale_ids = (
            select(Reservation.id)
            .join(ReservationLine, ReservationLine.reservation_id == Reservation.id)
            .where(
                Reservation.status == ReservationStatus.HELD.value,
                Reservation.expires_at <= func.now(),
                ReservationLine.product_id.in_(product_ids),
            )
        )
        return await self._lines_of(stale_ids)

    async def _lines_of(self, reservation_ids: Select[UUID]) -> HoldLines:
        statement = select(ReservationLine.reservation_id, ReservationLine.product_id, ReservationLine.quantity).where(
            ReservationLine.reservation_id.in_(reservation_ids)
        )
        holds: HoldLines = defaultdict(dict)
        for reservation_id, product_id, quantity in await self.session.execute(statement):
            holds[reservation_id][product_id] = quantity
        return dict(holds)

    async def _expire(self, holds: HoldLines, rows: dict[UUID, StockItem]) -> list[UUID]:
        """Expire the holds that are still held and past expiry; the caller holds all their rows."""
        statement = (
            update(Reservation)
            .where(
                Reservation.id.in_(holds),
                Reservation.status == ReservationStatus.HELD.value,
                Reservation.expires_at <= func.now(),
            )
            .values(status=ReservationStatus.EXPIRED.value, closed_at=func.now(), updated_at=func.now())
            .returning(Reservation.id)
            .execution_options(synchronize_session=False)
        )
        expired = list(await self.session.scalars(statement))
        for reservation_id in expired:
            for product_id, quantity in holds[reservation_id].items():
                self.unhold(rows[product_id], quantity, reason=RESERVATION_EXPIRED)
        return expired

    async def sweep_expired(self, limit: int) -> int:
        """Expire up to `limit` holds past their expiry, oldest first; returns how many."""
        oldest = (
            select(Reservation.id)
            .where(Reservation.status == ReservationStatus.HELD.value, Reservation.expires_at <= func.now())
            .order_by(Reservation.expires_at)
            .limit(limit)
        )
        holds = await self._lines_of(oldest)
        if not holds:
            return 0
        rows = await self._lock_rows(set().union(*holds.values()))
        return len(await self._expire(holds, rows))

    # -- changes ---------------------------------------------------------------------------------
    def hold(self, item: StockItem, quantity: int) -> None:
        item.reserved += quantity
        self._touch(item, RESERVED)

    def unhold(self, item: StockItem, quantity: int, *, reason: str = RESERVATION_RELEASED) -> None:
        item.reserved -= quantity
        self._touch(item, reason)

    def ship(self, item: StockItem, quantity: int, *, reservation_id: UUID) -> None:
        """Held units leave the warehouse: out of `on_hand` and `reserved` together."""
        item.reserved -= quantity
        self.move(item, -quantity, MovementReason.SALE, reservation_id=reservation_id)

    def move(
        self,
        item: StockItem,
        delta: int,
        reason: MovementReason,
        *,
        note: str | None = None,
        actor_id: UUID | None = None,
        reservation_id: UUID | None = None,
    ) -> None:
        """Change `on_hand` by `delta` and write the movement that explains it."""
        item.on_hand += delta
        self.session.add(
            StockMovement(
                product_id=item.product_id,
                delta=delta,
                on_hand_after=item.on_hand,
                reason=reason.value,
                note=note,
                actor_id=actor_id,
                reservation_id=reservation_id,
            )
        )
        self._touch(item, reason.value)

    def _touch(self, item: StockItem, reason: str) -> None:
        self._changed[item.product_id] = (item, reason)

    async def finish(self) -> None:
        """Bump each changed row's revision, queue its StockChanged, and flush, so a violated
        constraint fails the request here rather than at commit."""
        for item, reason in self._changed.values():
            item.revision += 1
            await record_stock_changed(self.session, item, reason)
        self._changed.clear()
        await self.session.flush()
