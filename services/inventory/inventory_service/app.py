"""The inventory service: stock per product, movements, checkout reservations; emits StockChanged."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from commerce_platform.events.relay import outbox_relay_worker
from commerce_platform.service_app import ServiceDefinition, create_service_app
from inventory_service.api import CONTROLLERS
from inventory_service.dependencies import DEPENDENCIES
from inventory_service.handlers import inventory_orders_consumer
from inventory_service.settings import InventorySettings
from inventory_service.sweeper import sweep_expired_reservations


def create_app() -> Litestar:
    return create_service_app(
        ServiceDefinition(
            name="inventory",
            description="Stock per product, its movements, and reservations for checkout; emits StockChanged.",
            route_handlers=CONTROLLERS,
            migrations_dir=Path(__file__).parent / "migrations",
            settings_class=InventorySettings,
            dependencies=DEPENDENCIES,
            workers=[outbox_relay_worker(), inventory_orders_consumer(), sweep_expired_reservations],
        )
    )
