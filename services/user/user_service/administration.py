"""What an administrator may change about an account, and the rules that keep an administrator in charge."""

from __future__ import annotations

from collections.abc import Set
from uuid import UUID

from msgspec import UNSET
from sqlalchemy import select

from commerce_platform.errors import Conflict, Forbidden, NotFound
from user_service.models import Role, User
from user_service.schemas import AccountAdminUpdate
from user_service.services import RefreshTokenService, UserService


def removes_admin(target: User, change: AccountAdminUpdate, active_admins: Set[UUID]) -> bool:
    """Whether `change` takes an active administrator out of office (deactivates or demotes them)."""
    demoted = change.role is not UNSET and change.role != Role.ADMIN.value
    return target.id in active_admins and (change.is_active is False or demoted)


def check_admin_removal(*, caller_id: UUID, target_id: UUID, active_admins: Set[UUID]) -> None:
    """409 if an administrator would remove themselves, or the last active administrator would go.

    Removing oneself is refused because it is how a hijacked session locks the real owner out and
    how a slip leaves nobody in charge; the last-admin rule also holds for any future caller that
    is not itself an active administrator (a job, an internal route)."""
    if target_id == caller_id:
        raise Conflict("administrators cannot deactivate or demote themselves; ask another administrator")
    if not active_admins - {target_id}:
        raise Conflict("the last active administrator cannot be deactivated or demoted")


class AccountAdministration:
    """Administrators' changes to accounts; one per request, over the request's session."""

    def __init__(self, *, users: UserService, refresh_tokens: RefreshTokenService) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens

    async def update(self, *, caller_id: UUID, target_id: UUID, change: AccountAdminUpdate) -> User:
        """(De)activate an account or change its role; either revokes its refresh tokens."""
        active_admins = await self._lock_active_admins()
        # Checked again under the lock (the guard read earlier, unlocked): of two admins removing
        # each other at once, the second finds it is no longer one.
        if caller_id not in active_admins:
            raise Forbidden("administrator role required")
        user = await self.users.get_one_or_none(User.id == target_id)
        if user is None:
            raise NotFound("no such account")
        if removes_admin(user, change, active_admins):
            check_admin_removal(caller_id=caller_id, target_id=user.id, active_admins=active_admins)
        deactivated = change.is_active is False and user.is_active
        role_changed = change.role is not UNSET and change.role != user.role
        if change.is_active is not UNSET:
            user.is_active = change.is_active
        if change.role is not UNSET:
            user.role = change.role
        if deactivated or role_changed:
            # Refresh would otherwise hand out fresh tokens for as long as the family lives; the
            # user signs in again and gets a token with the role they have now.
            await self.refresh_tokens.revoke_all_for_user(user.id)
        return await self.users.update(user)

    async def _lock_active_admins(self) -> set[UUID]:
        """The active administrators, their rows locked until commit (in id order: no deadlocks), so
        concurrent changes to who is an administrator happen one after the other."""
        locked = (
            select(User.id)
            .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
        return set(await self.users.repository.session.scalars(locked))
