"""Every event the platform publishes: one typed msgspec struct per event type, declared once.

Publishers build these; consumers receive them decoded strictly (unknown fields are ignored so a
newer publisher can add fields, but missing or mistyped ones are rejected). `revision` fields are
monotonic per aggregate so consumers can ignore stale or repeated updates that arrive out of order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class EventData(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every event payload."""


# -- product-events ---------------------------------------------------------------------------
class ProductSnapshot(EventData, kw_only=True, frozen=True):
    product_id: UUID
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    category_slug: str
    # Ancestors first, the product's own category last, e.g. ["clothing", "shoes"].
    category_path: list[str]
    attributes: dict[str, Any]
    revision: int
    created_at: datetime
    updated_at: datetime


class ProductCreated(ProductSnapshot, kw_only=True, frozen=True):
    pass


class ProductUpdated(ProductSnapshot, kw_only=True, frozen=True):
    pass


class ProductDeleted(EventData, kw_only=True, frozen=True):
    product_id: UUID
    sku: str
    revision: int
    deleted_at: datetime


# -- inventory-events -------------------------------------------------------------------------
class StockChanged(EventData, kw_only=True, frozen=True):
    product_id: UUID
    on_hand: int
    reserved: int
    available: int
    # Monotonic per product: consumers keep the highest revision they have seen.
    revision: int
    reason: str
    occurred_at: datetime
    # False when the change left `available` as it was: a sale takes units out of `on_hand` and
    # `reserved` together. Sent as a message attribute too, so subscribers that only show
    # availability (search) can leave those out with a filter policy (see event_topology).
    available_changed: bool = True


# -- order-events -----------------------------------------------------------------------------
class OrderLine(msgspec.Struct, kw_only=True, frozen=True):
    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


class ShippingAddress(msgspec.Struct, kw_only=True, frozen=True):
    full_name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None


class OrderCreated(EventData, kw_only=True, frozen=True):
    order_id: UUID
    user_id: UUID
    email: str
    reservation_id: UUID
    items: list[OrderLine]
    total_cents: int
    currency: str
    shipping_address: ShippingAddress
    created_at: datetime


class OrderCancelled(EventData, kw_only=True, frozen=True):
    order_id: UUID
    user_id: UUID
    email: str
    reservation_id: UUID
    items: list[OrderLine]
    total_cents: int
    currency: str
    reason: str
    cancelled_at: datetime


# Event type name -> (topic, payload struct, schema version). The single registry both sides use.
EVENT_TYPES: dict[str, tuple[str, type[EventData], int]] = {
    "ProductCreated": ("product-events", ProductCreated, 1),
    "ProductUpdated": ("product-events", ProductUpdated, 1),
    "ProductDeleted": ("product-events", ProductDeleted, 1),
    "StockChanged": ("inventory-events", StockChanged, 1),
    "OrderCreated": ("order-events", OrderCreated, 1),
    "OrderCancelled": ("order-events", OrderCancelled, 1),
}


# Payload fields that the relay also sends as SNS message attributes, so that a subscription's filter
# policy can match them (SNS filters on attributes, not on the body). Values go out as strings,
# booleans as "true"/"false".
MESSAGE_ATTRIBUTE_FIELDS: dict[str, tuple[str, ...]] = {
    "StockChanged": ("available_changed",),
}


def event_type_of(data: EventData) -> str:
    return type(data).__name__
