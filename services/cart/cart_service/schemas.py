"""Request and response bodies of the cart service."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta, Struct

MAX_QUANTITY = 99
MAX_LINES = 50
# Lines one order may take out of a cart. A cart holds MAX_LINES, a few more when adds of different
# new products race (the add's cap is soft, see queries), and carts merged before the merge kept the
# cap hold up to 100; 100 is also the most lines one stock reservation takes, so no order checkout
# can place has more.
MAX_ORDERED_LINES = 2 * MAX_LINES
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


class NotMergedLine(Struct):
    """A guest cart's line that did not move into the user's cart at login; the guest cart is gone."""

    product_id: UUID
    quantity: int
    reason: Annotated[
        Literal["cart-full", "other-currency"],
        Meta(description=f"cart-full: the cart already held {MAX_LINES} different products; "
                         "other-currency: the product is priced in another currency than the cart"),
    ]


class CartView(Struct):
    """The cart priced now. One cart is one order in one currency: when its available lines are priced
    in more than one currency (a product's currency changed since it was added), it has no single
    total, `total_cents` and `currency` are null, `mixed_currency` is true, and checkout refuses it
    until the lines of all but one currency are removed."""

    id: UUID | None
    items: list[CartLine]
    item_count: int
    total_cents: Annotated[
        int | None,
        Meta(description="Sum of the available lines' totals (0 for an empty cart); null when mixed_currency"),
    ]
    currency: Annotated[
        str | None, Meta(description="Currency of the available lines; null when there are none or mixed_currency")
    ]
    mixed_currency: Annotated[
        bool, Meta(description="True when the available lines are priced in more than one currency")
    ] = False
    # Only on guest carts: send it back as X-Cart-Token to find this cart again.
    cart_token: str | None = None
    not_merged: Annotated[
        list[NotMergedLine],
        Meta(description="Only in the response to the request that merged a guest cart: its lines left out"),
    ] = []


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
    lines: Annotated[list[OrderedLine], Meta(min_length=1, max_length=MAX_ORDERED_LINES)]
