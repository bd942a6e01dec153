"""Application factory of the order service (work in progress: health only)."""

from pathlib import Path

from litestar import Litestar

from commerce_platform.service_app import ServiceDefinition, create_service_app


def create_app() -> Litestar:
    return create_service_app(
        ServiceDefinition(name="order", route_handlers=[], migrations_dir=Path(__file__).parent / "migrations")
    )
