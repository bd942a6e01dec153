"""HTTP routes of the notification service: what was sent to the caller, and how it went."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from litestar import Controller, get
from litestar.params import Parameter

from commerce_platform.auth import Principal
from commerce_platform.database import Database
from commerce_platform.errors import Forbidden
from notification_service.schemas import NotificationPage, NotificationView

# Deeper than anyone pages by hand, and keeps OFFSET far below int64 (beyond it Postgres errors: a 500).
MAX_PAGE = 10_000
_COLUMNS = "id, type, channel, status, order_id, recipient, subject, attempts, last_error, created_at, sent_at"


class NotificationController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]

    @get("/", operation_id="listNotifications", cache=False)
    async def list_notifications(
        self,
        principal: Principal,
        database: Database,
        order_id: UUID | None = None,
        user_id: Annotated[UUID | None, Parameter(description="admins only; none: every user")] = None,
        page: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> NotificationPage:
        """The caller's notifications, newest first, optionally for one order. Admins see every user's
        (or one user's, with user_id) and the full error of a failed attempt; customers a short one."""
        if principal.is_admin:
            owner = user_id
        elif user_id is None or user_id == principal.user_id:
            owner = principal.user_id
        else:
            raise Forbidden("only administrators may read another user's notifications")
        where, args = _filters(user_id=owner, order_id=order_id)
        offset = (page - 1) * page_size
        rows = await database.fetch(
            f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM notification WHERE {where} "  # noqa: S608 - constant
            f"ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
            *args, page_size, offset,
        )
        total = await _total(database, rows, where, args, offset)
        items = [_view(row, admin=principal.is_admin) for row in rows]
        return NotificationPage(items=items, total=total, page=page, page_size=page_size)


def _filters(**equal_to: UUID | None) -> tuple[str, list[Any]]:
    """A WHERE clause with only the filters in use, so each combination gets a plan that uses its index
    (`$1 IS NULL OR user_id = $1` would not, once Postgres switches to a generic plan)."""
    conditions: list[str] = []
    args: list[Any] = []
    for column, value in equal_to.items():
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    return " AND ".join(conditions) or "true", args


async def _total(database: Database, rows: list[asyncpg.Record], where: str, args: list[Any], offset: int) -> int:
    if rows:
        return int(rows[0]["total"])
    if offset == 0:
        return 0
    # Past the last page the window count has no row to ride on: count separately.
    row = await database.fetchrow(f"SELECT count(*) AS total FROM notification WHERE {where}", *args)  # noqa: S608
    return int(row["total"]) if row else 0


def _view(row: asyncpg.Record, *, admin: bool) -> NotificationView:
    view = NotificationView(**{k: row[k] for k in NotificationView.__struct_fields__})
    if not admin and view.last_error is not None:
        # Provider errors can name cloud accounts, roles and mail hosts: customers learn only what it means.
        view.last_error = "delivery failed, will retry" if view.status == "pending" else "delivery failed"
    return view
