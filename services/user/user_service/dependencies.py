"""Litestar dependencies: process-wide credential machinery from app.state, per-request services."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar.datastructures import State
from litestar.di import Provide

from user_service.accounts import Accounts
from user_service.administration import AccountAdministration
from user_service.authentication import Authenticator
from user_service.passwords import PasswordHashing
from user_service.rate_limit import LoginThrottle
from user_service.services import AddressService, RefreshTokenService, UserService
from user_service.settings import UserSettings
from user_service.tokens import AccessTokenIssuer


def provide_user_settings(state: State) -> UserSettings:
    settings: UserSettings = state["settings"]
    return settings


def provide_passwords(state: State) -> PasswordHashing:
    passwords: PasswordHashing = state["password_hashing"]
    return passwords


def provide_authenticator(
    users: UserService, refresh_tokens: RefreshTokenService, state: State, user_settings: UserSettings
) -> Authenticator:
    access_tokens: AccessTokenIssuer = state["access_tokens"]
    throttle: LoginThrottle = state["login_throttle"]
    return Authenticator(
        users=users,
        refresh_tokens=refresh_tokens,
        passwords=provide_passwords(state),
        access_tokens=access_tokens,
        throttle=throttle,
        refresh_ttl_seconds=user_settings.refresh_token_ttl_seconds,
    )


def provide_accounts(users: UserService, refresh_tokens: RefreshTokenService, state: State) -> Accounts:
    throttle: LoginThrottle = state["login_throttle"]
    return Accounts(users=users, refresh_tokens=refresh_tokens, passwords=provide_passwords(state), throttle=throttle)


def provide_administration(users: UserService, refresh_tokens: RefreshTokenService) -> AccountAdministration:
    return AccountAdministration(users=users, refresh_tokens=refresh_tokens)


DEPENDENCIES: dict[str, Provide] = {
    "user_settings": Provide(provide_user_settings, sync_to_thread=False),
    "users": Provide(create_service_provider(UserService)),
    "addresses": Provide(create_service_provider(AddressService)),
    "refresh_tokens": Provide(create_service_provider(RefreshTokenService)),
    "authenticator": Provide(provide_authenticator, sync_to_thread=False),
    "accounts": Provide(provide_accounts, sync_to_thread=False),
    "administration": Provide(provide_administration, sync_to_thread=False),
}
