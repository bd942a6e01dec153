"""`/internal/v1/users`: what other services ask of an account (never routed by the gateway or ALB)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get

from commerce_platform.database import Database
from commerce_platform.errors import NotFound
from user_service.schemas import AccountContact

CONTACT_BY_ID = "SELECT id, email, full_name, is_active, role, phone, sms_opt_in FROM user_account WHERE id = $1"


class InternalUserController(Controller):
    path = "/internal/v1/users"
    tags = ["internal"]

    @get("/{user_id:uuid}", operation_id="getAccountContact", cache=False)
    async def account_contact(self, user_id: UUID, database: Database) -> AccountContact:
        """Whether an account is active, its role and how to reach it: the order service checks it at
        checkout, the notification service reads the phone number and SMS opt-in, and every service
        but this one confirms an admin token's standing with it (commerce_platform.admin_standing)."""
        row = await database.fetchrow(CONTACT_BY_ID, user_id)
        if row is None:
            raise NotFound("no such account")
        return AccountContact(**dict(row))
