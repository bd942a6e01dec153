"""Request and response bodies of the user service's API, validated at the edge by msgspec.

Request bodies forbid unknown fields, so a misspelt field is a 400 rather than silently ignored,
and nobody can slip `role` into a sign-up.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from commerce_platform.addresses import is_country_code
from user_service.emails import InvalidEmail, normalize_email
from user_service.passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from user_service.passwords import WeakPassword, check_password_policy

# At least one visible character: "   " is not a name.
_VISIBLE = r"\S"
Email = Annotated[str, Meta(min_length=3, max_length=320, examples=["ann@example.com"])]
NewPassword = Annotated[str, Meta(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
# Login accepts whatever was typed; the bound only keeps absurd inputs away from Argon2.
TypedPassword = Annotated[str, Meta(min_length=1, max_length=1024)]
FullName = Annotated[str, Meta(min_length=1, max_length=200, pattern=_VISIBLE, examples=["Ann Lee"])]
# E.164: a plus, a country code and up to 15 digits in all.
Phone = Annotated[str, Meta(pattern=r"^\+[1-9][0-9]{6,14}$", examples=["+4930123456"])]
AddressLine = Annotated[str, Meta(min_length=1, max_length=200, pattern=_VISIBLE)]
OptionalLine = Annotated[str, Meta(max_length=200)]
City = Annotated[str, Meta(min_length=1, max_length=100, pattern=_VISIBLE)]
Region = Annotated[str, Meta(max_length=100)]
PostalCode = Annotated[str, Meta(min_length=1, max_length=20, pattern=_VISIBLE)]
CountryCode = Annotated[str, Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2, upper case", examples=["DE"])]
OpaqueToken = Annotated[str, Meta(min_length=1, max_length=256)]


class RegisterRequest(Struct, forbid_unknown_fields=True):
    email: Email
    password: NewPassword
    full_name: FullName

    def __post_init__(self) -> None:
        try:
            self.email = normalize_email(self.email)
        except InvalidEmail as exc:
            raise ValueError(f"email: {exc}") from exc
        try:
            check_password_policy(self.password, email=self.email)
        except WeakPassword as exc:
            raise ValueError(f"password: {exc}") from exc
        self.full_name = self.full_name.strip()


class LoginRequest(Struct, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=1, max_length=320)]
    password: TypedPassword


class RefreshTokenRequest(Struct, forbid_unknown_fields=True):
    refresh_token: OpaqueToken


class TokenPair(Struct):
    access_token: str
    refresh_token: str
    expires_in: Annotated[int, Meta(description="seconds until the access token expires")]
    token_type: Literal["Bearer"] = "Bearer"


RoleName = Literal["customer", "admin"]


class UserProfile(Struct, kw_only=True):
    id: UUID
    email: str
    full_name: str
    role: RoleName
    phone: str | None = None
    sms_opt_in: bool = False
    is_active: bool = True
    created_at: datetime.datetime


class AccountContact(Struct, kw_only=True):
    """What other services may know of an account: whether it is active, its role (other services
    confirm an admin token with it) and how to reach it."""

    id: UUID
    email: str
    full_name: str
    is_active: bool
    role: RoleName
    phone: str | None
    sms_opt_in: bool


class AccountAdminUpdate(Struct, forbid_unknown_fields=True):
    """An administrator (de)activates an account or changes its role."""

    is_active: bool | UnsetType = UNSET
    role: RoleName | UnsetType = UNSET


class ProfileUpdate(Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; `phone: null` removes the number. Changing the password
    needs `current_password` too, so a stolen access token alone cannot take the account over."""

    full_name: FullName | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    sms_opt_in: bool | UnsetType = UNSET
    new_password: NewPassword | UnsetType = UNSET
    current_password: TypedPassword | UnsetType = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.full_name, str):
            self.full_name = self.full_name.strip()
        if isinstance(self.new_password, str) and not isinstance(self.current_password, str):
            raise ValueError("current_password: required to change the password")


class AddressInput(Struct, forbid_unknown_fields=True):
    full_name: FullName
    line1: AddressLine
    city: City
    postal_code: PostalCode
    country: CountryCode
    line2: OptionalLine | None = None
    region: Region | None = None

    def __post_init__(self) -> None:
        _tidy(self)
        _check_country(self.country)


class AddressUpdate(Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; `line2` and `region` may be set to null."""

    full_name: FullName | UnsetType = UNSET
    line1: AddressLine | UnsetType = UNSET
    line2: OptionalLine | UnsetType | None = UNSET
    city: City | UnsetType = UNSET
    region: Region | UnsetType | None = UNSET
    postal_code: PostalCode | UnsetType = UNSET
    country: CountryCode | UnsetType = UNSET

    def __post_init__(self) -> None:
        _tidy(self)
        if isinstance(self.country, str):
            _check_country(self.country)

    def changes(self) -> dict[str, str | None]:
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not UNSET
        }


class AddressOut(Struct):
    id: UUID
    full_name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str
    created_at: datetime.datetime
    updated_at: datetime.datetime


class UserPage(Struct):
    items: list[UserProfile]
    total: int
    page: int
    page_size: int


class JsonWebKeySet(Struct):
    keys: list[dict[str, str]]


def _tidy(address: AddressInput | AddressUpdate) -> None:
    """Trim every line; an optional line that is only blanks is no line at all."""
    for name in address.__struct_fields__:
        value = getattr(address, name)
        if isinstance(value, str):
            value = value.strip()
            setattr(address, name, value if value or name not in _OPTIONAL_LINES else None)


_OPTIONAL_LINES = frozenset({"line2", "region"})


def _check_country(code: str) -> None:
    if not is_country_code(code):
        raise ValueError(f"country: {code!r} is not an ISO 3166-1 alpha-2 country code")
