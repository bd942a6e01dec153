"""Models and database rows turned into response bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from user_service.models import Address, User
from user_service.schemas import AddressOut, RoleName, UserProfile


def profile_of(user: User | Mapping[str, Any]) -> UserProfile:
    """From an ORM user or an asyncpg record with the same column names."""
    if isinstance(user, User):
        return UserProfile(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=cast(RoleName, user.role),
            phone=user.phone,
            sms_opt_in=user.sms_opt_in,
            is_active=user.is_active,
            created_at=user.created_at,
        )
    return UserProfile(
        id=user["id"],
        email=user["email"],
        full_name=user["full_name"],
        role=user["role"],
        phone=user["phone"],
        sms_opt_in=user["sms_opt_in"],
        is_active=user["is_active"],
        created_at=user["created_at"],
    )


def address_of(address: Address) -> AddressOut:
    return AddressOut(
        id=address.id,
        full_name=address.full_name,
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        region=address.region,
        postal_code=address.postal_code,
        country=address.country,
        created_at=address.created_at,
        updated_at=address.updated_at,
    )
