"""A customer's contact preferences, asked of the user service when an event or a text needs them."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commerce_platform.errors import DependencyUnavailable
from commerce_platform.http_client import ServiceClient


@dataclass(frozen=True)
class Contact:
    phone: str | None
    sms_opt_in: bool
    is_active: bool

    @property
    def texts_allowed(self) -> bool:
        # A deactivated account gets no texts, whatever it opted into before.
        return bool(self.phone) and self.sms_opt_in and self.is_active


NO_CONTACT = Contact(phone=None, sms_opt_in=False, is_active=False)


class ContactDirectory:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def contact(self, user_id: UUID) -> Contact:
        """Raises DependencyUnavailable when the user service cannot say."""
        # One try: both callers have a better fallback than waiting here while holding a database
        # connection (the event handler leaves the text for the delivery worker, which backs off).
        response = await self.client.get(f"/internal/v1/users/{user_id}", retry=False)
        if response.status == 404:
            return NO_CONTACT
        if not response.ok:
            raise DependencyUnavailable(f"user service answered HTTP {response.status}")
        body = response.json()
        return Contact(
            phone=body.get("phone"),
            sms_opt_in=bool(body.get("sms_opt_in", False)),
            # Missing means we cannot tell: no text rather than a text to a closed account.
            is_active=bool(body.get("is_active", False)),
        )
