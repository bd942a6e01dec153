"""Writes and admin reads over accounts, addresses and refresh tokens (advanced-alchemy services)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from uuid import UUID

from advanced_alchemy.exceptions import DuplicateKeyError
from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, func, select, update

from commerce_platform.errors import Conflict, NotFound, Unauthorized
from user_service.models import Address, RefreshToken, Role, User
from user_service.tokens import new_refresh_token, refresh_token_digest


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def same_email(email: str) -> ColumnElement[bool]:
    """Case-insensitive match, with both sides lower-cased by Postgres so the unique index is used
    and there is one notion of case."""
    return func.lower(User.email) == func.lower(email)


class UserService(SQLAlchemyAsyncRepositoryService[User]):
    """Accounts: sign-up, lookup by email, profile changes and the admin listing."""

    class Repo(SQLAlchemyAsyncRepository[User]):
        model_type = User

    repository_type = Repo

    async def find_by_email(self, email: str) -> User | None:
        return await self.get_one_or_none(same_email(email))

    async def register(self, *, email: str, password_hash: str, full_name: str) -> User:
        """Create a customer account; 409 if the email is taken in any letter case."""
        if await self.exists(same_email(email)):
            raise Conflict("an account with this email already exists")
        try:
            return await self.create(
                User(email=email, password_hash=password_hash, full_name=full_name, role=Role.CUSTOMER.value)
            )
        except DuplicateKeyError as exc:  # lost a race with a concurrent sign-up
            raise Conflict("an account with this email already exists") from exc

    async def page(self, *, page: int, page_size: int) -> tuple[Sequence[User], int]:
        """One page of accounts in sign-up order, with the total count."""
        return await self.get_many_and_count(
            LimitOffset(limit=page_size, offset=(page - 1) * page_size),
            OrderBy(field_name="created_at", sort_order="asc"),
            OrderBy(field_name="id", sort_order="asc"),
        )

    async def lock(self, user_id: UUID) -> User:
        """The account row, locked until commit, to serialise changes that count its children."""
        user = await self.get_one_or_none(User.id == user_id, with_for_update=True)
        if user is None:
            raise Unauthorized("this account no longer exists")
        return user


class AddressService(SQLAlchemyAsyncRepositoryService[Address]):
    """A user's address book; every lookup is scoped to its owner, so another user's address is a 404."""

    class Repo(SQLAlchemyAsyncRepository[Address]):
        model_type = Address

    repository_type = Repo

    async def for_owner(self, user_id: UUID) -> Sequence[Address]:
        return await self.list(Address.user_id == user_id, order_by=[(Address.created_at, False)])

    async def owned(self, user_id: UUID, address_id: UUID) -> Address:
        address = await self.get_one_or_none(Address.id == address_id, Address.user_id == user_id)
        if address is None:
            raise NotFound("address not found")
        return address

    async def count_for_owner(self, user_id: UUID) -> int:
        return await self.count(Address.user_id == user_id)


class RefreshTokenService(SQLAlchemyAsyncRepositoryService[RefreshToken]):
    """Refresh tokens in families: each login starts a family, each refresh retires the presented
    token and adds its successor. A retired token presented again means it was stolen (or the
    client is confused), so the whole family is revoked and everyone holding it must sign in."""

    class Repo(SQLAlchemyAsyncRepository[RefreshToken]):
        model_type = RefreshToken

    repository_type = Repo

    async def issue(self, *, user_id: UUID, family_id: UUID, ttl_seconds: int) -> str:
        """Store a new token of `family_id` and return it; only its digest is kept."""
        token = new_refresh_token()
        await self.create(
            RefreshToken(
                user_id=user_id,
                family_id=family_id,
                token_hash=refresh_token_digest(token),
                expires_at=utcnow() + datetime.timedelta(seconds=ttl_seconds),
            )
        )
        return token

    async def redeem(self, token: str) -> RefreshToken:
        """Retire a live token and return it; 401 if it is unknown, expired, used or revoked.

        The retiring UPDATE is conditional on the token still being live, so of two concurrent
        refreshes with one token exactly one wins. Reuse revokes the family and commits at once:
        the 401 that follows rolls the request's transaction back.
        """
        digest = refresh_token_digest(token)
        now = utcnow()
        session = self.repository.session
        retired: RefreshToken | None = await session.scalar(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now, updated_at=now)
            .returning(RefreshToken)
            .execution_options(synchronize_session=False)
        )
        if retired is not None:
            return retired
        known = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest))
        if known is not None and (known.used_at is not None or known.revoked_at is not None):
            await self.revoke_family(known.family_id)
            await session.commit()
            raise Unauthorized("refresh token was already used; every session from that sign-in is revoked")
        raise Unauthorized("refresh token is invalid or expired")

    async def revoke_family_of(self, token: str) -> None:
        """Sign out: revoke the family the token belongs to (nothing happens for an unknown token)."""
        family = select(RefreshToken.family_id).where(RefreshToken.token_hash == refresh_token_digest(token))
        await self._revoke(RefreshToken.family_id == family.scalar_subquery())

    async def revoke_family(self, family_id: UUID) -> None:
        await self._revoke(RefreshToken.family_id == family_id)

    async def revoke_all_for_user(self, user_id: UUID) -> None:
        """After a password change every other session must sign in again."""
        await self._revoke(RefreshToken.user_id == user_id)

    async def _revoke(self, condition: object) -> None:
        now = utcnow()
        await self.repository.session.execute(
            update(RefreshToken)
            .where(condition, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type]
            .values(revoked_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
