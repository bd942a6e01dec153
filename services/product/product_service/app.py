"""Application factory of the product service: catalog routes, migrations and the outbox relay."""

from pathlib import Path

from litestar import Litestar

from commerce_platform.events.relay import outbox_relay_worker
from commerce_platform.service_app import ServiceDefinition, create_service_app
from product_service.controllers import CategoryController, InternalProductController, ProductController


def create_app() -> Litestar:
    return create_service_app(
        ServiceDefinition(
            name="product",
            description="Product catalog: products and the category tree; emits product events through its outbox.",
            route_handlers=[CategoryController, ProductController, InternalProductController],
            migrations_dir=Path(__file__).parent / "migrations",
            workers=[outbox_relay_worker()],
        )
    )
