"""A cart priced with the product service's current prices: line totals, and one total only when
every available line is in one currency (pure logic: the prices are looked up by the caller)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from uuid import UUID

from cart_service.schemas import CartLine, CartView, NotMergedLine
from cart_service.services import Cart, Line
from commerce_platform.clients.product_catalog import ProductPrice


def live_currencies(lines: Iterable[Line], prices: Mapping[UUID, ProductPrice]) -> set[str]:
    """Currencies of the lines still sold; a deleted or unknown product has no say."""
    return {price.currency for line in lines if (price := prices.get(line.product_id)) is not None and price.active}


def price_cart(
    cart: Cart, prices: Mapping[UUID, ProductPrice], not_merged: Sequence[NotMergedLine] = ()
) -> CartView:
    if cart.id is None:
        return CartView(id=None, items=[], item_count=0, total_cents=0, currency=None)
    items = [_priced_line(line, prices.get(line.product_id)) for line in cart.lines]
    live = [item for item in items if item.available]
    currencies = {item.currency for item in live}
    # A sum across currencies means nothing: say so instead of labelling it with one of them.
    mixed = len(currencies) > 1
    return CartView(
        id=cart.id,
        items=items,
        item_count=sum(item.quantity for item in live),
        total_cents=None if mixed else sum(item.line_total_cents for item in live),
        currency=None if mixed or not currencies else currencies.pop(),
        mixed_currency=mixed,
        cart_token=cart.token,
        not_merged=list(not_merged),
    )


def _priced_line(line: Line, price: ProductPrice | None) -> CartLine:
    available = price is not None and price.active
    return CartLine(
        product_id=line.product_id,
        sku=price.sku if price else "",
        name=price.name if price else "(no longer sold)",
        quantity=line.quantity,
        unit_price_cents=price.price_cents if price else 0,
        currency=price.currency if price else "",
        line_total_cents=price.price_cents * line.quantity if price and available else 0,
        available=available,
    )
