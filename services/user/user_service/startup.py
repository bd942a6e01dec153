"""Start-up hook: build the process-wide credential machinery (hasher, token issuer, throttle)."""

from __future__ import annotations

from litestar import Litestar

from commerce_platform.database import Database
from user_service.passwords import PasswordHashing
from user_service.rate_limit import LoginThrottle, ThrottleLimits
from user_service.settings import UserSettings
from user_service.tokens import AccessTokenIssuer, signing_key


async def prepare_credentials(app: Litestar) -> None:
    """One password hasher, token issuer and login throttle per process, kept in app.state."""
    settings = user_settings(app)
    database: Database = app.state["database"]
    app.state["password_hashing"] = PasswordHashing(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
        workers=settings.password_hash_workers,
        max_pending=settings.password_hash_max_pending,
        max_pending_new=settings.password_hash_max_pending_new,
    )
    app.state["access_tokens"] = AccessTokenIssuer(
        signing_key(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    app.state["login_throttle"] = LoginThrottle(
        database,
        ThrottleLimits(
            per_account_and_client=settings.login_max_failures_per_email_and_client,
            per_client=settings.login_max_failures_per_client,
            per_password_check=settings.password_check_max_failures,
            window_seconds=settings.login_failure_window_seconds,
        ),
    )


def user_settings(app: Litestar) -> UserSettings:
    settings = app.state["settings"]
    if not isinstance(settings, UserSettings):
        raise TypeError("the user service runs with UserSettings")
    return settings
