"""Request and response bodies of the cart service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

MAX_QUANTITY = 99
MAX_LINES = 50
Quantity = Annotated[int, Meta(ge=1, le=MAX_QUANTITY, description=f"1 to {MAX_QUANTITY}")]


class AddItem(Struct, forbid_unknown_fields=True):
    product_id: UUID
    quantity: Quantity = 1


class ChangeQuantity(Struct, forbid_unknown_fields=True):
    quantity: Quantity


class MergeCart(Struct, forbid_unknown_fields=True):
    cart_token: Annotated[str, Meta(min_length=16, max_length=128)]


class CartLine(Struct):
    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    currency: str
    line_total_cents: int
    # False when the product was deleted since it was added; such lines are not in the total.
    available: bool


class CartView(Struct):
    id: UUID | None
    items: list[CartLine]
    item_count: int
    total_cents: int
    currency: str | None
    # Only on guest carts: send it back as X-Cart-Token to find this cart again.
    cart_token: str | None = None


class LineRef(Struct):
    product_id: UUID
    quantity: int


class CartLines(Struct):
    """A cart's lines as they are, unpriced: what the order service checks out (it prices them itself)."""

    id: UUID | None
    items: list[LineRef]


class OrderedLine(Struct, forbid_unknown_fields=True):
    product_id: UUID
    quantity: Quantity


class RemoveOrdered(Struct, forbid_unknown_fields=True):
    order_id: UUID
    lines: Annotated[list[OrderedLine], Meta(min_length=1, max_length=MAX_LINES)]
