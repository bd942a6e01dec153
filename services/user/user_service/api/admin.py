"""`/v1/users`: the administrators' view of all accounts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, patch
from litestar.params import Parameter
from msgspec import UNSET

from commerce_platform.auth import admin_guard
from commerce_platform.errors import NotFound
from user_service.api.views import profile_of
from user_service.models import User
from user_service.schemas import AccountAdminUpdate, UserPage, UserProfile
from user_service.services import UserService

MAX_PAGE_SIZE = 100


class UserAdminController(Controller):
    path = "/v1/users"
    tags = ["admin"]
    guards = [admin_guard]
    security = [{"BearerToken": []}]

    @get("", operation_id="listUsers")
    async def list_users(
        self,
        users: UserService,
        page: Annotated[int, Parameter(ge=1, description="1-based page number")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> UserPage:
        """All accounts in sign-up order, one page at a time, with the total count (admin only)."""
        accounts, total = await users.page(page=page, page_size=page_size)
        return UserPage(items=[profile_of(u) for u in accounts], total=total, page=page, page_size=page_size)

    @patch("/{user_id:uuid}", operation_id="updateAccount")
    async def update_account(self, user_id: UUID, data: AccountAdminUpdate, users: UserService) -> UserProfile:
        """Deactivate or reactivate an account, or change its role (admin only)."""
        user = await users.get_one_or_none(User.id == user_id)
        if user is None:
            raise NotFound("no such account")
        if data.is_active is not UNSET:
            user.is_active = data.is_active
        if data.role is not UNSET:
            user.role = data.role
        return profile_of(await users.update(user))
