"""Account changes a user makes: signing up and editing the profile, password included."""

from __future__ import annotations

from uuid import UUID

from msgspec import UNSET

from commerce_platform.errors import BadRequest, Unauthorized
from user_service.models import User
from user_service.passwords import PasswordHashing, WeakPassword, check_password_policy
from user_service.rate_limit import LoginThrottle
from user_service.schemas import ProfileUpdate, RegisterRequest
from user_service.services import RefreshTokenService, UserService


class Accounts:
    """Sign-up and self-service profile changes; one per request, over the request's session."""

    def __init__(
        self,
        *,
        users: UserService,
        refresh_tokens: RefreshTokenService,
        passwords: PasswordHashing,
        throttle: LoginThrottle,
    ) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.passwords = passwords
        self.throttle = throttle

    async def register(self, request: RegisterRequest) -> User:
        """A new customer account (the request has already normalized the email and checked the policy)."""
        password_hash = await self.passwords.hash_new(request.password)
        return await self.users.register(
            email=request.email, password_hash=password_hash, full_name=request.full_name
        )

    async def update_profile(self, user_id: UUID, change: ProfileUpdate) -> User:
        user = await self.users.get_one_or_none(User.id == user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        if change.full_name is not UNSET:
            user.full_name = change.full_name
        if change.phone is not UNSET:
            user.phone = change.phone
        if change.sms_opt_in is not UNSET:
            user.sms_opt_in = change.sms_opt_in
        if isinstance(change.new_password, str) and isinstance(change.current_password, str):
            await self._change_password(user, current=change.current_password, new=change.new_password)
        return await self.users.update(user)

    async def _change_password(self, user: User, *, current: str, new: str) -> None:
        # Counted before the check, like a login, so concurrent guesses cannot slip past the limit.
        await self.throttle.count_password_check(user.id)
        # 400, not 401: the caller is authenticated; what they typed as the old password is wrong.
        if not await self.passwords.verify(user.password_hash, current):
            raise BadRequest("current_password is not correct", extra=_field_error("current_password"))
        await self.throttle.forgive_password_check(user.id)
        try:
            check_password_policy(new, email=user.email)
        except WeakPassword as exc:
            raise BadRequest(f"new_password: {exc}", extra=_field_error("new_password", str(exc))) from exc
        user.password_hash = await self.passwords.hash_new(new)
        # Whoever else holds a refresh token (perhaps the reason for the change) must sign in again.
        await self.refresh_tokens.revoke_all_for_user(user.id)


def _field_error(field: str, message: str = "is not correct") -> dict[str, object]:
    return {"errors": [{"key": field, "message": message, "source": "body"}]}
