"""Litestar dependencies: per-request services bound to the request's database session (or, for
reservations, to the service's asyncpg pool)."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.database import Database
from inventory_service.reservations import Reservations
from inventory_service.services import MovementService, StockService


def provide_stock(db_session: AsyncSession) -> StockService:
    return StockService(db_session)


def provide_reservations(database: Database) -> Reservations:
    # Not the request's ORM session: reservations run plain SQL on the asyncpg pool (see reservations.py).
    return Reservations(database)


DEPENDENCIES: dict[str, Provide] = {
    "stock": Provide(provide_stock, sync_to_thread=False),
    "reservations": Provide(provide_reservations, sync_to_thread=False),
    "movements": Provide(create_service_provider(MovementService)),
}
