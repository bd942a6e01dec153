"""`/v1/users`: the administrators' view of all accounts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, patch
from litestar.params import Parameter

from commerce_platform.auth import Principal
from user_service.administration import AccountAdministration
from user_service.api.views import profile_of
from user_service.guards import current_admin_guard
from user_service.schemas import AccountAdminUpdate, UserPage, UserProfile
from user_service.services import UserService

MAX_PAGE_SIZE = 100
# Deeper than anyone pages by hand; keeps OFFSET far inside bigint (a larger page was an error).
MAX_PAGE = 10_000


class UserAdminController(Controller):
    path = "/v1/users"
    tags = ["admin"]
    # The account row, not only the token's role claim: see current_admin_guard.
    guards = [current_admin_guard]
    security = [{"BearerToken": []}]

    @get("", operation_id="listUsers")
    async def list_users(
        self,
        users: UserService,
        page: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="1-based page number")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> UserPage:
        """All accounts in sign-up order, one page at a time, with the total count (admin only)."""
        accounts, total = await users.page(page=page, page_size=page_size)
        return UserPage(items=[profile_of(u) for u in accounts], total=total, page=page, page_size=page_size)

    @patch("/{user_id:uuid}", operation_id="updateAccount")
    async def update_account(
        self, user_id: UUID, data: AccountAdminUpdate, principal: Principal, administration: AccountAdministration
    ) -> UserProfile:
        """Deactivate or reactivate an account, or change its role (admin only). Either change signs
        the account out everywhere; 409 for removing oneself or the last active administrator."""
        user = await administration.update(caller_id=principal.user_id, target_id=user_id, change=data)
        return profile_of(user)
