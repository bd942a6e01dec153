"""Request and response bodies of the order service."""

from __future__ import annotations

import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from commerce_platform.addresses import PostalAddress

# Stripe-style payment method ids ("pm_card_visa"); card data never reaches this service.
PaymentMethod = Annotated[str, Meta(min_length=4, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$")]
IDEMPOTENCY_KEY_MAX = 255


class CheckoutRequest(Struct, forbid_unknown_fields=True):
    shipping_address: PostalAddress
    payment_method: PaymentMethod


class CancelRequest(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(max_length=500)] | None = None


class OrderLineView(Struct):
    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class StatusChangeView(Struct):
    from_status: str | None
    to_status: str
    reason: str | None
    at: datetime.datetime


class OrderView(Struct):
    id: UUID
    user_id: UUID
    status: str
    items: list[OrderLineView]
    total_cents: int
    currency: str
    shipping_address: PostalAddress
    payment_id: UUID | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    status_history: list[StatusChangeView]
    # Cancelled, and the refund is not made yet (the payment service did not answer): it follows.
    refund_pending: bool = False
    # The payment service refused to give the money back for good: it is settled by hand.
    refund_failed: bool = False


class OrderPage(Struct):
    items: list[OrderView]
    total: int
    page: int
    page_size: int
