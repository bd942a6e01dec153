"""`/v1/auth`: sign up, sign in, refresh and sign out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from user_service.accounts import Accounts
from user_service.api.views import profile_of
from user_service.authentication import Authenticator
from user_service.rate_limit import client_address
from user_service.schemas import LoginRequest, RefreshTokenRequest, RegisterRequest, TokenPair, UserProfile
from user_service.settings import UserSettings


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/register", operation_id="register", status_code=HTTP_201_CREATED)
    async def register(self, data: RegisterRequest, accounts: Accounts) -> UserProfile:
        """Create a customer account; 409 if the email is already registered (in any letter case)."""
        return profile_of(await accounts.register(data))

    @post("/login", operation_id="login", status_code=HTTP_200_OK)
    async def login(
        self,
        data: LoginRequest,
        request: Request[Any, Any, Any],
        authenticator: Authenticator,
        user_settings: UserSettings,
    ) -> TokenPair:
        """Exchange email and password for an access token and a refresh token; 429 after repeated failures."""
        client = client_address(request, trusted_hops=user_settings.forwarded_for_trusted_hops)
        return await authenticator.login(email=data.email, password=data.password, client=client)

    @post("/refresh", operation_id="refresh", status_code=HTTP_200_OK)
    async def refresh(self, data: RefreshTokenRequest, authenticator: Authenticator) -> TokenPair:
        """Exchange a refresh token for a new pair; the old one stops working, and reusing it signs that session out."""
        return await authenticator.refresh(data.refresh_token)

    @post("/logout", operation_id="logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(self, data: RefreshTokenRequest, authenticator: Authenticator) -> None:
        """Revoke the refresh token and every token refreshed from the same sign-in (always 204)."""
        await authenticator.logout(data.refresh_token)
