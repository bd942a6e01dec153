"""Start-up hook: make sure the bootstrap administrator (BOOTSTRAP_ADMIN_EMAIL) exists."""

from __future__ import annotations

import asyncio
import enum

import structlog
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from commerce_platform.database import Database
from commerce_platform.settings import SettingsError
from user_service.emails import InvalidEmail, normalize_email
from user_service.models import Role, User
from user_service.passwords import PasswordHashing, WeakPassword, check_password_policy
from user_service.services import same_email
from user_service.startup import user_settings

log = structlog.get_logger("user.bootstrap")


class BootstrapOutcome(enum.StrEnum):
    CREATED = "created"
    PROMOTED = "promoted"
    ALREADY_ADMIN = "already admin"
    # An account with the email exists and the bootstrap password does not open it.
    REFUSED = "refused"


async def bootstrap_admin(app: Litestar) -> None:
    """Make sure BOOTSTRAP_ADMIN_EMAIL exists with the admin role.

    Idempotent and safe when several replicas start at once: the insert yields to the unique email
    index instead of failing. An existing account keeps its password (it may have been changed
    since) and is promoted only if BOOTSTRAP_ADMIN_PASSWORD opens it (see `ensure_admin`).
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
    database: Database = app.state["database"]
    passwords: PasswordHashing = app.state["password_hashing"]
    try:
        await ensure_admin(database, passwords, email=email, password=password)
    except (OSError, DBAPIError, TimeoutError) as exc:
        # The database is not reachable yet: start anyway (so /health answers and the deploy's
        # health checks see a live process) and keep trying in the background.
        log.warning("bootstrap admin deferred: database unreachable", error=type(exc).__name__)
        app.state["bootstrap_admin_task"] = asyncio.create_task(
            _retry_admin(database, passwords, email=email, password=password)
        )


async def _retry_admin(database: Database, passwords: PasswordHashing, *, email: str, password: str) -> None:
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        try:
            await ensure_admin(database, passwords, email=email, password=password)
            return
        except (OSError, DBAPIError, TimeoutError):
            delay = min(delay * 2, 30.0)


async def ensure_admin(
    database: Database, passwords: PasswordHashing, *, email: str, password: str
) -> BootstrapOutcome:
    """Create the admin account, or promote the existing account with this email (in any letter
    case) only if `password` verifies against its hash.

    Sign-up is open and emails are not verified: whoever registered the address first, perhaps
    while this very start was waiting for the database, must not become an administrator by an
    operator's later setting. Knowing the account's password is what shows it is the operator's.
    """
    async with database.engine.begin() as conn:
        outcome = await _create_or_promote(conn, passwords, email=email, password=password)
    if outcome is BootstrapOutcome.REFUSED:
        log.warning(
            "bootstrap admin not promoted: an account with this email exists and the bootstrap password "
            "does not match it; promote it by hand, or change the email",
            email=email,
        )
    else:
        log.info("bootstrap admin ready", email=email, outcome=outcome.value)
    return outcome


async def _create_or_promote(
    conn: AsyncConnection, passwords: PasswordHashing, *, email: str, password: str
) -> BootstrapOutcome:
    # Locked, so the password checked is the one still there when the role changes.
    existing = select(User.id, User.role, User.password_hash).where(same_email(email)).with_for_update()
    account = (await conn.execute(existing)).first()
    if account is None:
        password_hash = await passwords.hash(password)
        created = await conn.execute(
            insert(User)
            .values(email=email, password_hash=password_hash, full_name="Administrator", role=Role.ADMIN.value)
            .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
        )
        if created.rowcount:
            return BootstrapOutcome.CREATED
        account = (await conn.execute(existing)).one()  # lost a race: another replica, or a sign-up
    if account.role == Role.ADMIN.value:
        return BootstrapOutcome.ALREADY_ADMIN
    if not await passwords.verify(account.password_hash, password):
        return BootstrapOutcome.REFUSED
    await conn.execute(update(User).where(User.id == account.id).values(role=Role.ADMIN.value))
    return BootstrapOutcome.PROMOTED
