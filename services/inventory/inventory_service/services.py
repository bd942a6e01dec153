"""Stock administration: set and adjust levels, page the movements. (The products' lifecycle comes
by events: `handlers` opens and closes stock records through the ledger.)"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.errors import Conflict, NotFound
from inventory_service.ledger import StockLedger, StockRow, connection_of
from inventory_service.models import MovementReason, StockItem, StockMovement
from inventory_service.schemas import MAX_UNITS


class StockService:
    """Admin changes of one product's stock, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _ledger(self) -> StockLedger:
        # The ledger's plain SQL joins the session's transaction.
        return StockLedger(await connection_of(self.session))

    async def set_on_hand(self, product_id: UUID, on_hand: int, *, actor_id: UUID | None) -> StockRow:
        """Set the level outright (a stock count), creating the record if needed."""
        ledger = await self._ledger()
        await ledger.create_missing([product_id])
        item = (await ledger.lock([product_id]))[product_id]
        if on_hand < item.reserved:
            raise Conflict(
                f"on_hand cannot go below the {item.reserved} units held by reservations",
                extra={"reserved": item.reserved, "requested_on_hand": on_hand},
            )
        if on_hand != item.on_hand:
            ledger.move(item, on_hand - item.on_hand, MovementReason.STOCK_COUNT, actor_id=actor_id)
        await ledger.finish()
        return item

    async def adjust(
        self, product_id: UUID, delta: int, reason: MovementReason, *, note: str | None, actor_id: UUID | None
    ) -> StockRow:
        """Add or remove units with a reason; the result may not drop below what is reserved nor rise
        above MAX_UNITS (the most a PUT may set)."""
        ledger = await self._ledger()
        item = (await ledger.lock([product_id])).get(product_id)
        if item is None:
            raise NotFound("no stock record for this product")
        if item.on_hand + delta < item.reserved:
            raise Conflict(
                f"on_hand would drop to {item.on_hand + delta}, below the {item.reserved} units reserved",
                extra={"on_hand": item.on_hand, "reserved": item.reserved, "delta": delta},
            )
        # Each delta is bounded, but stacked ones are not: past MAX_UNITS the figures would soon
        # overflow the `integer` columns (a 500 instead of a refusal).
        if item.on_hand + delta > MAX_UNITS:
            raise Conflict(
                f"on_hand would rise to {item.on_hand + delta}, above the most a stock record holds ({MAX_UNITS})",
                problem_type="too-much-stock",
                extra={"on_hand": item.on_hand, "delta": delta, "max_on_hand": MAX_UNITS},
            )
        ledger.move(item, delta, reason, note=note, actor_id=actor_id)
        await ledger.finish()
        return item

    async def exists(self, product_id: UUID) -> bool:
        return (
            await self.session.scalar(select(StockItem.product_id).where(StockItem.product_id == product_id))
            is not None
        )



class MovementService(SQLAlchemyAsyncRepositoryService[StockMovement]):
    """The audit trail of stock movements, read by admins one page at a time."""

    class Repo(SQLAlchemyAsyncRepository[StockMovement]):
        model_type = StockMovement

    repository_type = Repo

    async def page(self, product_id: UUID, *, page: int, page_size: int) -> tuple[Sequence[StockMovement], int]:
        """Newest first; UUIDv7 ids sort by creation time, so `id` alone orders the trail."""
        return await self.get_many_and_count(
            StockMovement.product_id == product_id,
            LimitOffset(limit=page_size, offset=(page - 1) * page_size),
            OrderBy(field_name="id", sort_order="desc"),
        )
