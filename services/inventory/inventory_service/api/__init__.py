"""HTTP routes of the inventory service: public and admin stock, and internal reservations."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from inventory_service.api.reservations import ReservationController
from inventory_service.api.stock import StockController

CONTROLLERS: list[ControllerRouterHandler] = [StockController, ReservationController]
