"""`/v1/inventory/{product_id}`: anyone reads a stock level; admins set it, adjust it and audit it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post, put
from litestar.params import Parameter

from commerce_platform.auth import Principal, admin_guard
from commerce_platform.database import Database
from commerce_platform.errors import NotFound
from inventory_service.models import MovementReason
from inventory_service.queries import read_stock_level
from inventory_service.schemas import AdjustmentRequest, MovementPage, SetStockRequest, StockLevel
from inventory_service.services import MovementService, StockService
from inventory_service.views import movement_of, stock_level_of

MAX_PAGE_SIZE = 100
# Deep enough for any audit; bounds OFFSET far inside bigint (a larger page was a 409 on a GET).
MAX_PAGE = 10_000
BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]


class StockController(Controller):
    path = "/v1/inventory"
    tags = ["inventory"]

    @get("/{product_id:uuid}", operation_id="getStockLevel", cache=False)
    async def get_stock_level(self, product_id: UUID, database: Database) -> StockLevel:
        """A product's on_hand, reserved and available units (holds past their expiry never count)."""
        level = await read_stock_level(database, product_id)
        if level is None:
            raise NotFound("no stock record for this product")
        return level

    @put("/{product_id:uuid}", operation_id="setStockLevel", guards=[admin_guard], security=BEARER)
    async def set_stock_level(
        self, product_id: UUID, data: SetStockRequest, stock: StockService, principal: Principal
    ) -> StockLevel:
        """Set on_hand outright (a stock count), creating the record if needed; 409 below what is reserved."""
        item = await stock.set_on_hand(product_id, data.on_hand, actor_id=principal.user_id)
        return stock_level_of(item)

    @post("/{product_id:uuid}/adjustments", operation_id="adjustStock", guards=[admin_guard], security=BEARER)
    async def adjust_stock(
        self, product_id: UUID, data: AdjustmentRequest, stock: StockService, principal: Principal
    ) -> StockLevel:
        """Add or remove units with a reason (recorded as a movement); 409 below what is reserved or
        above the most a stock record holds (MAX_UNITS)."""
        item = await stock.adjust(
            product_id,
            data.delta,
            MovementReason(data.reason.value),
            note=data.note,
            actor_id=principal.user_id,
        )
        return stock_level_of(item)

    @get(
        "/{product_id:uuid}/movements",
        operation_id="listStockMovements",
        cache=False,
        guards=[admin_guard],
        security=BEARER,
    )
    async def list_movements(
        self,
        product_id: UUID,
        stock: StockService,
        movements: MovementService,
        page: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="1-based page number")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> MovementPage:
        """The product's stock movements, newest first, one page at a time."""
        if not await stock.exists(product_id):
            raise NotFound("no stock record for this product")
        items, total = await movements.page(product_id, page=page, page_size=page_size)
        return MovementPage(items=[movement_of(m) for m in items], total=total, page=page, page_size=page_size)
