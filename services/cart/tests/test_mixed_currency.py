"""A cart whose available lines mix currencies has no single total: no sum of euros and dollars
labelled as either. Its response says so (`mixed_currency`), and the OpenAPI schema documents it."""

from __future__ import annotations

from typing import Any

import aiohttp

from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import create_product, new_shopper


async def test_a_cart_that_mixes_currencies_shows_no_total(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    product_url = stack.service_url("product")
    mug = await create_product(http, product_url, catalog["admin"], category=catalog["category"], price_cents=1000)
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    for product_id in (catalog["shoes"]["id"], mug["id"]):
        async with http.post(f"{cart_url}/items", json={"product_id": product_id}, headers=shopper.headers) as resp:
            assert resp.status == 200, await resp.text()
    # An admin reprices the mug in dollars after it went into the cart.
    async with http.patch(
        f"{product_url}/v1/products/{mug['id']}", json={"currency": "USD"}, headers=catalog["admin"]
    ) as resp:
        assert resp.status == 200, await resp.text()

    async with http.get(cart_url, headers=shopper.headers) as resp:
        cart = await resp.json()
    assert (cart["total_cents"], cart["currency"], cart["mixed_currency"]) == (None, None, True)
    assert cart["item_count"] == 2
    assert {line["currency"]: line["line_total_cents"] for line in cart["items"]} == {"EUR": 4999, "USD": 1000}
    # Once one currency is left, the total is back.
    async with http.delete(f"{cart_url}/items/{mug['id']}", headers=shopper.headers) as resp:
        cart = await resp.json()
    assert (cart["total_cents"], cart["currency"], cart["mixed_currency"]) == (4999, "EUR", False)


async def test_the_openapi_schema_says_the_total_can_be_null(stack: Stack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.service_url('cart')}/schema/openapi.json") as resp:
        document = await resp.json()
    view = document["components"]["schemas"]["CartView"]
    total = view["properties"]["total_cents"]
    assert {"type": "null"} in total.get("oneOf", []) or "null" in total.get("type", []), total
    assert "mixed_currency" in total["description"]
    assert view["properties"]["mixed_currency"]["type"] == "boolean"
    assert "not_merged" in view["properties"]
