"""Merging a guest cart at login keeps the cart within its limits: at most MAX_LINES products, one
currency. What fits moves; the rest is listed under `not_merged`. And checkout can take as many
lines out of a cart as a cart can hold."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import create_product, new_shopper, problem

MAX_LINES = 50


@pytest.fixture(scope="module")
async def products(stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]) -> list[str]:
    """MAX_LINES + 2 products priced in euros."""
    made = await asyncio.gather(*(
        create_product(http, stack.service_url("product"), catalog["admin"], category=catalog["category"],
                       price_cents=100)
        for _ in range(MAX_LINES + 2)
    ))
    return [product["id"] for product in made]


async def _add(
    http: aiohttp.ClientSession, url: str, product_id: str, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    async with http.post(f"{url}/items", json={"product_id": product_id}, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return resp


async def test_merge_moves_only_the_products_that_fit_and_reports_the_rest(
    stack: Stack, http: aiohttp.ClientSession, products: list[str]
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    shopper = await new_shopper(http, stack.service_url("user"))
    for product_id in products[: MAX_LINES - 1]:  # one slot left
        await _add(http, cart_url, product_id, shopper.headers)
    # The guest's cart: a product the user has already, then three new ones, oldest first.
    token = (await _add(http, cart_url, products[0], {})).headers["x-cart-token"]
    for product_id in products[MAX_LINES - 1:]:
        await _add(http, cart_url, product_id, {"x-cart-token": token})

    async with http.post(f"{cart_url}/merge", json={"cart_token": token}, headers=shopper.headers) as resp:
        merged = await resp.json()
        assert resp.status == 200, merged
    quantities = {line["product_id"]: line["quantity"] for line in merged["items"]}
    assert len(quantities) == MAX_LINES
    assert quantities[products[0]] == 2  # already in the cart: it adds up and needs no room
    assert quantities[products[MAX_LINES - 1]] == 1  # the oldest new one takes the last slot
    assert merged["not_merged"] == [
        {"product_id": products[MAX_LINES], "quantity": 1, "reason": "cart-full"},
        {"product_id": products[MAX_LINES + 1], "quantity": 1, "reason": "cart-full"},
    ]
    # The guest cart is gone; the report came once, with the merge.
    async with http.get(cart_url, headers={"x-cart-token": token}) as resp:
        assert (await resp.json())["id"] is None
    async with http.get(cart_url, headers=shopper.headers) as resp:
        again = await resp.json()
    assert len(again["items"]) == MAX_LINES
    assert again["not_merged"] == []


async def test_merge_at_login_leaves_out_products_in_another_currency(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    product_url = stack.service_url("product")
    shoes, socks = catalog["shoes"]["id"], catalog["socks"]["id"]
    mug = (await create_product(http, product_url, catalog["admin"], category=catalog["category"]))["id"]
    shopper = await new_shopper(http, stack.service_url("user"))
    await _add(http, cart_url, shoes, shopper.headers)  # the user's cart is in euros
    token = (await _add(http, cart_url, mug, {})).headers["x-cart-token"]
    await _add(http, cart_url, socks, {"x-cart-token": token})
    # The mug is repriced in dollars while it sits in the guest cart.
    async with http.patch(f"{product_url}/v1/products/{mug}", json={"currency": "USD"}, headers=catalog["admin"]):
        pass

    # The first request that carries both the login and the guest token merges.
    async with http.get(cart_url, headers={**shopper.headers, "x-cart-token": token}) as resp:
        cart = await resp.json()
    assert [line["product_id"] for line in cart["items"]] == [shoes, socks]
    assert cart["not_merged"] == [{"product_id": mug, "quantity": 1, "reason": "other-currency"}]
    assert (cart["total_cents"], cart["currency"], cart["mixed_currency"]) == (4999 + 799, "EUR", False)


async def test_an_empty_user_cart_takes_the_guest_cart_whatever_its_currency(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    token = (await _add(http, cart_url, catalog["dollars"]["id"], {})).headers["x-cart-token"]
    shopper = await new_shopper(http, stack.service_url("user"))
    async with http.post(f"{cart_url}/merge", json={"cart_token": token}, headers=shopper.headers) as resp:
        cart = await resp.json()
    assert (cart["total_cents"], cart["currency"], cart["not_merged"]) == (100, "USD", [])


async def test_checkout_can_take_out_as_many_lines_as_a_cart_holds(
    stack: Stack, http: aiohttp.ClientSession, products: list[str]
) -> None:
    cart_url = stack.service_url("cart")
    shopper = await new_shopper(http, stack.service_url("user"))
    for product_id in products[:MAX_LINES]:
        await _add(http, f"{cart_url}/v1/cart", product_id, shopper.headers)
    # A full cart, plus the few more that racing adds of new products can squeeze in.
    lines = [{"product_id": p, "quantity": 1} for p in products] + [
        {"product_id": str(uuid.uuid4()), "quantity": 1} for _ in range(8)
    ]
    order = {"order_id": str(uuid.uuid4()), "lines": lines}
    async with http.post(f"{cart_url}/internal/v1/carts/{shopper.user_id}/remove-ordered", json=order) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json()) == {"removed": True}
    async with http.get(f"{cart_url}/internal/v1/carts/{shopper.user_id}") as resp:
        assert (await resp.json())["items"] == []
    # Still bounded: no order has more lines than a stock reservation takes.
    too_many = {"order_id": str(uuid.uuid4()), "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}] * 101}
    async with http.post(f"{cart_url}/internal/v1/carts/{shopper.user_id}/remove-ordered", json=too_many) as resp:
        await problem(resp, 400)
