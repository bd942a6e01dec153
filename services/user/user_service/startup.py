"""Start-up hooks: build the process-wide credential machinery, then make sure the bootstrap admin exists."""

from __future__ import annotations

import asyncio

import structlog
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from commerce_platform.database import Database
from commerce_platform.settings import SettingsError
from user_service.emails import InvalidEmail, normalize_email
from user_service.models import Role, User
from user_service.passwords import PasswordHashing, WeakPassword, check_password_policy
from user_service.rate_limit import LoginThrottle
from user_service.services import same_email
from user_service.settings import UserSettings
from user_service.tokens import AccessTokenIssuer, signing_key

log = structlog.get_logger("user.startup")


async def prepare_credentials(app: Litestar) -> None:
    """One password hasher, token issuer and login throttle per process, kept in app.state."""
    settings = user_settings(app)
    database: Database = app.state["database"]
    app.state["password_hashing"] = PasswordHashing(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
        workers=settings.password_hash_workers,
    )
    app.state["access_tokens"] = AccessTokenIssuer(
        signing_key(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    app.state["login_throttle"] = LoginThrottle(
        database,
        per_email=settings.login_max_failures_per_email,
        per_client=settings.login_max_failures_per_client,
        window_seconds=settings.login_failure_window_seconds,
    )


async def bootstrap_admin(app: Litestar) -> None:
    """Make sure BOOTSTRAP_ADMIN_EMAIL exists with the admin role.

    Idempotent and safe when several replicas start at once: the insert yields to the unique email
    index instead of failing. An existing account keeps its password (it may have been changed
    since) and is only promoted.
    """
    settings = user_settings(app)
    if not (settings.bootstrap_admin_email and settings.bootstrap_admin_password):
        return
    try:
        email = normalize_email(settings.bootstrap_admin_email)
    except InvalidEmail as exc:
        raise SettingsError(f"BOOTSTRAP_ADMIN_EMAIL: {exc}") from exc
    password = settings.bootstrap_admin_password
    try:
        check_password_policy(password, email=email)
    except WeakPassword as exc:
        if settings.environment != "local":
            raise SettingsError(f"BOOTSTRAP_ADMIN_PASSWORD: {exc}") from exc
        log.warning("bootstrap admin password is weak; accepted in local mode only", reason=str(exc))
    try:
        await _ensure_admin(app, email, password)
    except (OSError, DBAPIError, TimeoutError) as exc:
        # The database is not reachable yet: start anyway (so /health answers and the deploy's
        # health checks see a live process) and keep trying in the background.
        log.warning("bootstrap admin deferred: database unreachable", error=type(exc).__name__)
        app.state["bootstrap_admin_task"] = asyncio.create_task(_retry_admin(app, email, password))


async def _retry_admin(app: Litestar, email: str, password: str) -> None:
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        try:
            await _ensure_admin(app, email, password)
            return
        except (OSError, DBAPIError, TimeoutError):
            delay = min(delay * 2, 30.0)


async def _ensure_admin(app: Litestar, email: str, password: str) -> None:
    database: Database = app.state["database"]
    passwords: PasswordHashing = app.state["password_hashing"]
    async with database.engine.begin() as conn:
        exists = await conn.scalar(select(User.id).where(same_email(email)))
        if exists is None:
            password_hash = await passwords.hash(password)
            await conn.execute(
                insert(User)
                .values(email=email, password_hash=password_hash, full_name="Administrator", role=Role.ADMIN.value)
                .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
            )
        promoted = await conn.execute(
            update(User).where(same_email(email), User.role != Role.ADMIN.value).values(role=Role.ADMIN.value)
        )
    log.info("bootstrap admin ready", email=email, created=exists is None, promoted=promoted.rowcount > 0)


def user_settings(app: Litestar) -> UserSettings:
    settings = app.state["settings"]
    if not isinstance(settings, UserSettings):
        raise TypeError("the user service runs with UserSettings")
    return settings
