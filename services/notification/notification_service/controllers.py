"""HTTP routes of the notification service: what was sent to the caller, and how it went."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.params import Parameter

from commerce_platform.auth import Principal
from commerce_platform.database import Database
from commerce_platform.errors import Forbidden
from notification_service.schemas import NotificationPage, NotificationView

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
        user_id: Annotated[UUID | None, Parameter(description="admins only")] = None,
        page: Annotated[int, Parameter(ge=1)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> NotificationPage:
        """The caller's notifications, newest first (admins may pass user_id), optionally for one order."""
        if user_id is not None and user_id != principal.user_id and not principal.is_admin:
            raise Forbidden("only administrators may read another user's notifications")
        owner = user_id or principal.user_id
        where = "user_id = $1 AND ($2::uuid IS NULL OR order_id = $2)"
        rows = await database.fetch(
            f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM notification WHERE {where} "  # noqa: S608 - constant
            "ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
            owner, order_id, page_size, (page - 1) * page_size,
        )
        total = int(rows[0]["total"]) if rows else 0
        items = [NotificationView(**{k: row[k] for k in NotificationView.__struct_fields__}) for row in rows]
        return NotificationPage(items=items, total=total, page=page, page_size=page_size)
