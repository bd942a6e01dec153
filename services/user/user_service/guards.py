"""Guards of the user service's routes: admin routes trust the caller's account row, not only the token."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from commerce_platform.auth import admin_guard, authenticate
from commerce_platform.database import Database
from commerce_platform.errors import Forbidden
from user_service.models import Role

# One primary-key read over the lean pool: cheap next to what an admin route then does.
CALLER_STANDING = "SELECT role, is_active FROM user_account WHERE id = $1"


async def current_admin_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """401 without a valid token, 403 unless the token says admin *and* the account is, right now,
    active and an administrator. The token's role is what it was at issue, up to 15 minutes ago: a
    deactivated or demoted admin must not keep the power to undo that in the meantime."""
    await admin_guard(connection, handler)
    principal = await authenticate(connection)  # cached on the connection by the guard above
    database: Database = connection.app.state["database"]
    account = await database.fetchrow(CALLER_STANDING, principal.user_id)
    if account is None or not account["is_active"]:
        raise Forbidden("this account is deactivated; administrator role required")
    if account["role"] != Role.ADMIN.value:
        raise Forbidden("administrator role required")
