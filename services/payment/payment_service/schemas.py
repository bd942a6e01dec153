"""Request and response bodies of the payment service's API, validated at the edge by msgspec.

Request bodies forbid unknown fields, so a misspelt field is a 400 rather than silently ignored.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from payment_service.currencies import is_chargeable

# Stripe's ceiling for one charge in most currencies (eight digits of minor units).
AmountCents = Annotated[int, Meta(gt=0, le=99_999_999, description="amount in minor units", examples=[4999])]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code, upper case", examples=["EUR"])]
PaymentMethod = Annotated[
    str,
    Meta(
        pattern=r"^(pm|card|src)_[A-Za-z0-9_]+$",
        max_length=255,
        description="a provider payment method id or test token",
        examples=["pm_card_visa"],
    ),
]
IdempotencyKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="the caller's key: the same key always means the same payment",
        examples=["order-3f1c-checkout"],
    ),
]
PaymentStatusName = Literal["pending", "succeeded", "failed", "partially_refunded", "refunded", "canceled"]


class ChargeCreate(Struct, forbid_unknown_fields=True):
    """Charge `amount_cents` for an order at once; the same `idempotency_key` never charges twice."""

    order_id: UUID
    user_id: UUID
    amount_cents: AmountCents
    currency: Currency
    payment_method: PaymentMethod
    idempotency_key: IdempotencyKey

    def __post_init__(self) -> None:
        if not is_chargeable(self.currency):
            raise ValueError(f"currency: {self.currency!r} is not a currency payments can be charged in")


class RefundCreate(Struct, forbid_unknown_fields=True):
    """Give money back. Without `amount_cents`, whatever is left to refund. Without `idempotency_key`,
    the amount names the refund: the same amount (or "the rest") asked twice is refunded once; to make
    two equal partial refunds, give each its own key (a key reused for another amount is 422)."""

    amount_cents: AmountCents | None = None
    reason: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    idempotency_key: IdempotencyKey | None = None

    def refund_key(self) -> str:
        if self.idempotency_key is not None:
            return f"key:{self.idempotency_key}"
        return "rest" if self.amount_cents is None else f"amount:{self.amount_cents}"


class RefundView(Struct):
    id: UUID
    amount_cents: int
    reason: str | None
    provider_refund_id: str | None
    source: str
    created_at: datetime.datetime


class StatusChangeView(Struct):
    """One step of the status history; `from` is null for the payment's creation."""

    from_status: PaymentStatusName | None = msgspec.field(name="from")
    to_status: PaymentStatusName = msgspec.field(name="to")
    source: Literal["sync", "webhook"] = msgspec.field()
    at: datetime.datetime = msgspec.field()
    # The provider event that caused the change, for changes a webhook made.
    provider_event_id: str | None = msgspec.field()


class PaymentView(Struct):
    id: UUID
    status: PaymentStatusName
    order_id: UUID
    user_id: UUID
    amount_cents: int
    amount_refunded_cents: int
    currency: str
    provider: str
    provider_payment_id: str | None
    # Why the provider declined (e.g. card_declined), for failed payments.
    failure_code: str | None
    failure_message: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    refunds: list[RefundView]
    history: list[StatusChangeView]


class PaymentPage(Struct):
    items: list[PaymentView]
    total: int
    page: int
    page_size: int


class WebhookReceipt(Struct):
    """What handling one provider event did: applied (a change), unchanged (already so or a redelivery)
    or ignored (an event or payment this service does not track)."""

    received: bool
    outcome: Literal["applied", "unchanged", "ignored"]
