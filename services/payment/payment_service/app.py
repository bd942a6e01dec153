"""Application factory of the payment service: Stripe charges, refunds and voids, signed webhooks."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from commerce_platform.service_app import ServiceDefinition, create_service_app
from payment_service.controllers import CONTROLLERS, DEPENDENCIES
from payment_service.settings import PaymentSettings
from payment_service.startup import connect_provider


def create_app(settings: PaymentSettings | None = None) -> Litestar:
    return create_service_app(
        ServiceDefinition(
            name="payment",
            description="Payments through a provider interface (Stripe PaymentIntents), refunds and signed webhooks.",
            route_handlers=CONTROLLERS,
            migrations_dir=Path(__file__).parent / "migrations",
            settings_class=PaymentSettings,
            dependencies=DEPENDENCIES,
            on_startup=[connect_provider],
        ),
        settings=settings,
    )
