"""Sign-in, token refresh and sign-out: the flows that hand out and take back tokens."""

from __future__ import annotations

import uuid

from commerce_platform.errors import Forbidden, Unauthorized
from user_service.emails import InvalidEmail, normalize_email
from user_service.models import User
from user_service.passwords import PasswordHashing
from user_service.rate_limit import LoginAttempt, LoginThrottle
from user_service.schemas import TokenPair
from user_service.services import RefreshTokenService, UserService
from user_service.tokens import AccessTokenIssuer

# One message for an unknown email and a wrong password, so the answer does not reveal which
# accounts exist.
WRONG_CREDENTIALS = "invalid email or password"


class Authenticator:
    """Turns credentials into token pairs and back; one per request, over the request's session."""

    def __init__(
        self,
        *,
        users: UserService,
        refresh_tokens: RefreshTokenService,
        passwords: PasswordHashing,
        access_tokens: AccessTokenIssuer,
        throttle: LoginThrottle,
        refresh_ttl_seconds: int,
    ) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.passwords = passwords
        self.access_tokens = access_tokens
        self.throttle = throttle
        self.refresh_ttl_seconds = refresh_ttl_seconds

    async def login(self, *, email: str, password: str, client: str) -> TokenPair:
        """Check the password and start a new token family; 401 on wrong credentials, 429 when throttled."""
        try:
            email = normalize_email(email)
        except InvalidEmail:
            email = email.strip()  # cannot be an account, but still counts against its throttle
            known = False
        else:
            known = True
        attempt = LoginAttempt(email=email, client=client)
        await self.throttle.count_login(attempt)
        user = await self.users.find_by_email(email) if known else None
        # Hand the connection back before the slow part: a burst of logins queued on the Argon2
        # workers must not hold the whole pool while they wait.
        await self.users.repository.session.commit()
        if user is None:
            await self.passwords.verify_against_dummy(password)
            raise Unauthorized(WRONG_CREDENTIALS)
        if not await self.passwords.verify(user.password_hash, password):
            raise Unauthorized(WRONG_CREDENTIALS)
        if not user.is_active:
            raise Forbidden("this account is deactivated")
        if self.passwords.needs_rehash(user.password_hash):
            # The cost parameters changed since this hash was made; the plain password is only
            # at hand now, so upgrade it now.
            user.password_hash = await self.passwords.hash(password)
            await self.users.update(user)
        await self.throttle.forgive_login(attempt)
        return await self._start(user, family_id=uuid.uuid4())

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Trade a live refresh token for a new pair in the same family (the old token is retired)."""
        retired = await self.refresh_tokens.redeem(refresh_token)
        user = await self.users.get_one_or_none(User.id == retired.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        if not user.is_active:
            raise Forbidden("this account is deactivated")
        return await self._start(user, family_id=retired.family_id)

    async def logout(self, refresh_token: str) -> None:
        """Revoke every refresh token of the sign-in the token came from."""
        await self.refresh_tokens.revoke_family_of(refresh_token)

    async def _start(self, user: User, *, family_id: uuid.UUID) -> TokenPair:
        access = self.access_tokens.issue(user_id=user.id, email=user.email, role=user.role)
        refresh = await self.refresh_tokens.issue(
            user_id=user.id, family_id=family_id, ttl_seconds=self.refresh_ttl_seconds
        )
        return TokenPair(access_token=access.token, refresh_token=refresh, expires_in=access.expires_in)
