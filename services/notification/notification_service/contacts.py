"""A customer's contact preferences, asked of the user service when an event needs them."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commerce_platform.errors import DependencyUnavailable
from commerce_platform.http_client import ServiceClient


@dataclass(frozen=True)
class Contact:
    phone: str | None
    sms_opt_in: bool

    @property
    def texts_allowed(self) -> bool:
        return bool(self.phone) and self.sms_opt_in


class ContactDirectory:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def contact(self, user_id: UUID) -> Contact:
        response = await self.client.get(f"/internal/v1/users/{user_id}")
        if response.status == 404:
            return Contact(phone=None, sms_opt_in=False)
        if not response.ok:
            raise DependencyUnavailable(f"user service answered HTTP {response.status}")
        body = response.json()
        return Contact(phone=body.get("phone"), sms_opt_in=bool(body.get("sms_opt_in", False)))
