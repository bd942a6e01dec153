"""The provider interface the payment service charges through, and the outcomes every provider reports.

Each provider call carries an idempotency key, so repeating it (after a timeout, a crash, a retry)
never moves money twice on a provider that honours keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

# The metadata field a refund carries our refund key in, so a refund learned from a webhook is
# recorded under the key a retry of the same request looks for.
REFUND_KEY_METADATA = "refund_key"


class ChargeOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    # Accepted, but the money moves later (bank debits); a webhook reports the end.
    PROCESSING = "processing"


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    amount_cents: int
    currency: str
    payment_method: str
    idempotency_key: str
    # Travels with the provider's object and its webhooks, so an event finds its payment.
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderCharge:
    provider_payment_id: str
    outcome: ChargeOutcome


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider_refund_id: str
    amount_cents: int
    # Our refund key and reason, read back from the metadata; None for refunds made elsewhere (the dashboard).
    refund_key: str | None = None
    reason: str | None = None


class ProviderError(Exception):
    """Base of what a provider call can end in besides success."""


class PaymentDeclined(ProviderError):
    """The provider refused the payment method: the shopper has to use another one."""

    def __init__(self, decline_code: str, message: str, provider_payment_id: str | None = None) -> None:
        super().__init__(message)
        self.decline_code = decline_code
        self.message = message
        self.provider_payment_id = provider_payment_id


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed; the outcome of a write is unknown."""


class ProviderRejected(ProviderError):
    """The provider refused the request itself (not the card): an amount too small, a state it forbids."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class AlreadyCharged(ProviderRejected):
    """A cancel found the charge succeeded meanwhile: the money moved, so it has to be refunded instead."""


class PaymentProvider(Protocol):
    """What the payment service needs from a payment processor."""

    name: str

    async def charge(self, request: ChargeRequest) -> ProviderCharge:
        """Charge at once (create, confirm and capture); raises PaymentDeclined, ProviderRejected or
        ProviderUnavailable."""
        ...

    async def refund(
        self, provider_payment_id: str, amount_cents: int, *, idempotency_key: str, metadata: dict[str, str]
    ) -> ProviderRefund:
        """Give `amount_cents` of a succeeded charge back."""
        ...

    async def cancel(self, provider_payment_id: str, *, idempotency_key: str) -> None:
        """Cancel a charge that has not moved money; a charge already cancelled is fine. Raises
        AlreadyCharged if it succeeded meanwhile."""
        ...

    async def refunds(self, provider_payment_id: str) -> list[ProviderRefund]:
        """Every refund of a charge that moved money or is moving it, oldest first."""
        ...
