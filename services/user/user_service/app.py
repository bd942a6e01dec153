"""The user service: accounts, sign-in, JWT issuing (and JWKS), profiles and addresses."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from commerce_platform.service_app import ServiceDefinition, create_service_app
from user_service.api import CONTROLLERS
from user_service.bootstrap import bootstrap_admin
from user_service.dependencies import DEPENDENCIES
from user_service.housekeeping import housekeeping_worker
from user_service.settings import UserSettings
from user_service.startup import prepare_credentials
from user_service.tokens import own_key_set


def create_app(settings: UserSettings | None = None) -> Litestar:
    """The app from environment variables, or from `settings` (tests build it in-process with their own)."""
    return create_service_app(
        ServiceDefinition(
            name="user",
            description="Accounts, authentication (JWT issuer and JWKS), profiles and addresses.",
            route_handlers=CONTROLLERS,
            migrations_dir=Path(__file__).parent / "migrations",
            settings_class=UserSettings,
            dependencies=DEPENDENCIES,
            on_startup=[prepare_credentials, bootstrap_admin],
            workers=[housekeeping_worker],
            key_set_factory=own_key_set,
        ),
        settings=settings,
    )
