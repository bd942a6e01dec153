"""Application factory of the cart service."""

from pathlib import Path

from litestar import Litestar

from cart_service.controllers import CartController, InternalCartController
from cart_service.purge import purge_expired_guest_carts
from cart_service.settings import CartSettings
from commerce_platform.service_app import ServiceDefinition, create_service_app


def create_app() -> Litestar:
    return create_service_app(
        ServiceDefinition(
            name="cart",
            description="Shopping carts: one per signed-in user, guest carts by token, priced by the product service.",
            route_handlers=[CartController, InternalCartController],
            migrations_dir=Path(__file__).parent / "migrations",
            settings_class=CartSettings,
            workers=[purge_expired_guest_carts],
        )
    )
