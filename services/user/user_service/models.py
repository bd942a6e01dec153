"""Tables of the `users` schema: accounts, their addresses, refresh tokens and login throttling."""

from __future__ import annotations

import datetime
import enum
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, false, func, true
from sqlalchemy.orm import Mapped, mapped_column


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class User(UUIDv7AuditBase):
    """An account. `email` keeps the case the user typed in its local part; uniqueness and lookups
    go through the `lower(email)` index."""

    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("role IN ('customer', 'admin')", name="role"),)

    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=Role.CUSTOMER.value)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    # Order texts go out only to a number the user asked to be texted on.
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A deactivated account cannot sign in, refresh, or check out with a token it still holds.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


# Case-insensitive uniqueness: "Ann@Example.com" and "ann@example.com" are one account.
Index("uq_user_account_email_lower", func.lower(User.email), unique=True)
Index("ix_user_account_created_at", User.created_at, User.id)


class Address(UUIDv7AuditBase):
    """A postal address in a user's address book; orders copy the same shape as `shipping_address`."""

    __tablename__ = "address"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200), default=None)
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100), default=None)
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))


class RefreshToken(UUIDv7AuditBase):
    """One refresh token, stored only as its SHA-256 digest. Tokens descended from one login share a
    `family_id`; each refresh marks its token used and adds the next one to the family."""

    __tablename__ = "refresh_token"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class LoginThrottle(DefaultBase):
    """Failed attempts counted per key (`account:<email>|<client>`, `client:…`, `password-check:<user id>`)
    in a fixed window. Every replica updates the same row with one atomic upsert, so the limit holds
    across replicas."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_started_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    failures: Mapped[int] = mapped_column(Integer)
