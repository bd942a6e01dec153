"""Pricing a cart is pure logic over looked-up prices: checked in memory."""

from __future__ import annotations

import uuid

from cart_service.pricing import live_currencies, price_cart
from cart_service.services import NO_CART, Cart, Line
from commerce_platform.clients.product_catalog import ProductPrice


def _price(cents: int, currency: str, *, active: bool = True) -> ProductPrice:
    return ProductPrice(id=uuid.uuid4(), sku="SKU", name="Thing", price_cents=cents, currency=currency, active=active)


def _cart(*prices: ProductPrice, quantity: int = 2) -> Cart:
    return Cart(uuid.uuid4(), [Line(price.id, quantity) for price in prices])


def test_one_currency_has_one_total() -> None:
    a, b = _price(100, "EUR"), _price(250, "EUR")
    view = price_cart(_cart(a, b), {a.id: a, b.id: b})
    assert (view.total_cents, view.currency, view.mixed_currency, view.item_count) == (700, "EUR", False, 4)


def test_mixed_currencies_have_no_total() -> None:
    a, b = _price(100, "EUR"), _price(250, "USD")
    view = price_cart(_cart(a, b), {a.id: a, b.id: b})
    assert (view.total_cents, view.currency, view.mixed_currency) == (None, None, True)
    assert [line.line_total_cents for line in view.items] == [200, 500]


def test_a_product_no_longer_sold_does_not_make_a_cart_mixed() -> None:
    a, gone = _price(100, "EUR"), _price(250, "USD", active=False)
    view = price_cart(_cart(a, gone), {a.id: a, gone.id: gone})
    assert (view.total_cents, view.currency, view.mixed_currency) == (200, "EUR", False)
    assert live_currencies(_cart(a, gone).lines, {a.id: a, gone.id: gone}) == {"EUR"}


def test_no_cart_and_an_empty_cart_total_zero() -> None:
    assert (price_cart(NO_CART, {}).total_cents, price_cart(NO_CART, {}).mixed_currency) == (0, False)
    view = price_cart(Cart(uuid.uuid4(), []), {})
    assert (view.total_cents, view.currency, view.mixed_currency) == (0, None, False)
