"""Application factory of the order service: checkout, orders, the outbox relay and crash recovery."""

from pathlib import Path

from litestar import Litestar

from commerce_platform.clients.product_catalog import ProductCatalog
from commerce_platform.database import Database
from commerce_platform.events.relay import outbox_relay_worker
from commerce_platform.service_app import ServiceDefinition, create_service_app
from order_service.checkout import Checkout, Collaborators
from order_service.clients import Carts, Inventory, Payments, UserDirectory
from order_service.controllers import OrderController
from order_service.recovery import recovery_worker
from order_service.repositories import OrderBook


async def wire_checkout(app: Litestar) -> None:
    """Build the checkout once per process from the platform's database and service clients."""
    database: Database = app.state["database"]
    clients = app.state["service_clients"]
    app.state["checkout"] = Checkout(
        OrderBook(database),
        Collaborators(
            users=UserDirectory(clients["user"]),
            carts=Carts(clients["cart"]),
            catalog=ProductCatalog(clients["product"]),
            inventory=Inventory(clients["inventory"]),
            payments=Payments(clients["payment"]),
        ),
    )


def create_app() -> Litestar:
    return create_service_app(
        ServiceDefinition(
            name="order",
            description="Checkout orchestration and orders: reserve, charge, save with an outbox row, cancel.",
            route_handlers=[OrderController],
            migrations_dir=Path(__file__).parent / "migrations",
            on_startup=[wire_checkout],
            workers=[outbox_relay_worker(), recovery_worker],
        )
    )
