"""The cart over HTTP against the running stack: prices from the product service, bounds, guests, merge."""

import asyncio
import uuid
from typing import Any

import aiohttp

from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import create_product, new_shopper, problem


async def test_signed_in_cart_is_priced_by_the_product_service(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.gateway_url}/v1/cart"
    async with http.get(cart_url, headers=shopper.headers) as resp:
        assert resp.status == 200
        empty = await resp.json()
        assert empty["items"] == []
        assert empty["total_cents"] == 0
    async with http.post(
        f"{cart_url}/items", json={"product_id": catalog["shoes"]["id"], "quantity": 2}, headers=shopper.headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    # Adding again adds up; the client never sends a price.
    async with http.post(
        f"{cart_url}/items", json={"product_id": catalog["socks"]["id"]}, headers=shopper.headers
    ) as resp:
        cart = await resp.json()
    assert {line["product_id"]: line["quantity"] for line in cart["items"]} == {
        catalog["shoes"]["id"]: 2,
        catalog["socks"]["id"]: 1,
    }
    assert cart["total_cents"] == 2 * 4999 + 799
    assert cart["currency"] == "EUR"
    assert cart["item_count"] == 3
    assert cart.get("cart_token") is None
    shoes_line = next(line for line in cart["items"] if line["product_id"] == catalog["shoes"]["id"])
    assert shoes_line["line_total_cents"] == 9998
    assert shoes_line["sku"] == catalog["shoes"]["sku"]

    async with http.patch(
        f"{cart_url}/items/{catalog['shoes']['id']}", json={"quantity": 5}, headers=shopper.headers
    ) as resp:
        assert (await resp.json())["total_cents"] == 5 * 4999 + 799
    async with http.delete(f"{cart_url}/items/{catalog['socks']['id']}", headers=shopper.headers) as resp:
        assert [line["product_id"] for line in (await resp.json())["items"]] == [catalog["shoes"]["id"]]
    async with http.delete(f"{cart_url}/", headers=shopper.headers) as resp:
        assert (await resp.json())["items"] == []


async def test_price_change_shows_in_the_cart(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    product_url = stack.service_url("product")
    item = await create_product(http, product_url, catalog["admin"], category=catalog["category"], price_cents=1000)
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    async with http.post(f"{cart_url}/items", json={"product_id": item["id"]}, headers=shopper.headers) as resp:
        assert (await resp.json())["total_cents"] == 1000
    async with http.patch(
        f"{product_url}/v1/products/{item['id']}", json={"price_cents": 1250}, headers=catalog["admin"]
    ) as resp:
        assert resp.status == 200, await resp.text()
    async with http.get(cart_url, headers=shopper.headers) as resp:
        assert (await resp.json())["total_cents"] == 1250
    # A deleted product stays visible as unavailable and leaves the total.
    async with http.delete(f"{product_url}/v1/products/{item['id']}", headers=catalog["admin"]) as resp:
        assert resp.status == 204
    async with http.get(cart_url, headers=shopper.headers) as resp:
        cart = await resp.json()
    assert cart["items"][0]["available"] is False
    assert cart["total_cents"] == 0


async def test_bad_input_is_rejected_with_problems(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    shoes = catalog["shoes"]["id"]
    for bad in ({"product_id": shoes, "quantity": 0}, {"product_id": shoes, "quantity": 100},
                {"product_id": "not-a-uuid"}, {"quantity": 1}, {"product_id": shoes, "price_cents": 1}):
        async with http.post(f"{cart_url}/items", json=bad, headers=shopper.headers) as resp:
            await problem(resp, 400)
    async with http.post(
        f"{cart_url}/items", json={"product_id": str(uuid.uuid4())}, headers=shopper.headers
    ) as resp:
        await problem(resp, 404)
    async with http.post(f"{cart_url}/items", json={"product_id": shoes, "quantity": 60}, headers=shopper.headers):
        pass
    async with http.post(
        f"{cart_url}/items", json={"product_id": shoes, "quantity": 60}, headers=shopper.headers
    ) as resp:
        await problem(resp, 422)
    async with http.post(
        f"{cart_url}/items", json={"product_id": catalog["dollars"]["id"]}, headers=shopper.headers
    ) as resp:
        await problem(resp, 409)
    async with http.patch(
        f"{cart_url}/items/{catalog['socks']['id']}", json={"quantity": 2}, headers=shopper.headers
    ) as resp:
        await problem(resp, 404)
    async with http.get(cart_url, headers={"authorization": "Bearer not.a.token"}) as resp:
        await problem(resp, 401)


async def test_concurrent_adds_both_count(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"

    async def add() -> int:
        async with http.post(
            f"{cart_url}/items", json={"product_id": catalog["socks"]["id"], "quantity": 3}, headers=shopper.headers
        ) as resp:
            return resp.status

    assert await asyncio.gather(*(add() for _ in range(8))) == [200] * 8
    async with http.get(cart_url, headers=shopper.headers) as resp:
        assert (await resp.json())["items"][0]["quantity"] == 24


async def test_guest_cart_merges_into_the_user_cart_at_login(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    cart_url = f"{stack.gateway_url}/v1/cart"
    async with http.post(f"{cart_url}/items", json={"product_id": catalog["shoes"]["id"], "quantity": 1}) as resp:
        guest = await resp.json()
        token = resp.headers["x-cart-token"]
    assert guest["cart_token"] == token
    async with http.post(
        f"{cart_url}/items", json={"product_id": catalog["socks"]["id"]}, headers={"x-cart-token": token}
    ) as resp:
        assert (await resp.json())["item_count"] == 2
    # Someone else's token finds nothing of ours.
    async with http.get(cart_url, headers={"x-cart-token": "x" * 43}) as resp:
        assert (await resp.json())["items"] == []

    shopper = await new_shopper(http, stack.service_url("user"))
    async with http.post(
        f"{cart_url}/items", json={"product_id": catalog["shoes"]["id"], "quantity": 2}, headers=shopper.headers
    ):
        pass
    async with http.post(f"{cart_url}/merge", json={"cart_token": token}, headers=shopper.headers) as resp:
        merged = await resp.json()
        assert resp.status == 200, merged
    assert {line["product_id"]: line["quantity"] for line in merged["items"]} == {
        catalog["shoes"]["id"]: 3,
        catalog["socks"]["id"]: 1,
    }
    # The guest cart is gone once merged.
    async with http.post(f"{cart_url}/merge", json={"cart_token": token}, headers=shopper.headers) as resp:
        await problem(resp, 404)
    async with http.post(f"{cart_url}/merge", json={"cart_token": token}) as resp:
        await problem(resp, 401)


async def test_internal_checkout_routes_remove_ordered_lines_once(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = stack.service_url("cart")
    for product, quantity in ((catalog["shoes"]["id"], 3), (catalog["socks"]["id"], 1)):
        async with http.post(
            f"{cart_url}/v1/cart/items", json={"product_id": product, "quantity": quantity}, headers=shopper.headers
        ):
            pass
    async with http.get(f"{cart_url}/internal/v1/carts/{shopper.user_id}") as resp:
        body = await resp.json()
    assert body["items"] == [{"product_id": catalog["shoes"]["id"], "quantity": 3},
                             {"product_id": catalog["socks"]["id"], "quantity": 1}]
    order = {"order_id": str(uuid.uuid4()), "lines": [{"product_id": catalog["shoes"]["id"], "quantity": 2},
                                                       {"product_id": catalog["socks"]["id"], "quantity": 1}]}
    for expected in (True, False):
        async with http.post(
            f"{cart_url}/internal/v1/carts/{shopper.user_id}/remove-ordered", json=order
        ) as resp:
            assert (await resp.json()) == {"removed": expected}
    async with http.get(f"{cart_url}/v1/cart", headers=shopper.headers) as resp:
        lines = (await resp.json())["items"]
    assert [(line["product_id"], line["quantity"]) for line in lines] == [(catalog["shoes"]["id"], 1)]
    # The gateway does not expose internal routes.
    async with http.get(f"{stack.gateway_url}/internal/v1/carts/{shopper.user_id}") as resp:
        assert resp.status == 404


async def test_concurrent_first_adds_of_a_new_line_sum_exactly(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    # No cart and no line yet: every request races to create both, and each quantity must count once.
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"

    async def add() -> dict[str, Any]:
        async with http.post(
            f"{cart_url}/items", json={"product_id": catalog["shoes"]["id"], "quantity": 7}, headers=shopper.headers
        ) as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body

    answers = await asyncio.gather(*(add() for _ in range(12)))
    # Each response shows the quantity its own add produced: 7, 14, ... 84, each exactly once.
    assert sorted(answer["items"][0]["quantity"] for answer in answers) == [7 * k for k in range(1, 13)]
    assert len({answer["id"] for answer in answers}) == 1
    async with http.get(cart_url, headers=shopper.headers) as resp:
        cart = await resp.json()
    assert [(line["product_id"], line["quantity"]) for line in cart["items"]] == [(catalog["shoes"]["id"], 84)]


async def test_quantity_bound_holds_under_concurrent_adds(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"

    async def add() -> int:
        async with http.post(
            f"{cart_url}/items", json={"product_id": catalog["socks"]["id"], "quantity": 10}, headers=shopper.headers
        ) as resp:
            if resp.status != 200:
                body = await problem(resp, 422)
                assert "at most 99" in body["detail"]
            return resp.status

    statuses = await asyncio.gather(*(add() for _ in range(14)))
    # 9 x 10 fit under 99; the other 5 are refused, never partly applied.
    assert sorted(statuses) == [200] * 9 + [422] * 5
    async with http.get(cart_url, headers=shopper.headers) as resp:
        assert (await resp.json())["items"][0]["quantity"] == 90
    async with http.post(
        f"{cart_url}/items", json={"product_id": catalog["socks"]["id"], "quantity": 9}, headers=shopper.headers
    ) as resp:
        assert (await resp.json())["items"][0]["quantity"] == 99


async def test_a_cart_holds_at_most_fifty_products(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    product_url = stack.service_url("product")
    products = [
        await create_product(http, product_url, catalog["admin"], category=catalog["category"], price_cents=100)
        for _ in range(51)
    ]
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    for product in products[:50]:
        async with http.post(f"{cart_url}/items", json={"product_id": product["id"]}, headers=shopper.headers) as resp:
            assert resp.status == 200, await resp.text()
    async with http.post(f"{cart_url}/items", json={"product_id": products[50]["id"]}, headers=shopper.headers) as resp:
        assert "at most 50" in (await problem(resp, 422))["detail"]
    # A product already in the full cart can still go up.
    async with http.post(f"{cart_url}/items", json={"product_id": products[0]["id"]}, headers=shopper.headers) as resp:
        cart = await resp.json()
    assert len(cart["items"]) == 50
    assert cart["items"][0] == {**cart["items"][0], "product_id": products[0]["id"], "quantity": 2}
    assert cart["total_cents"] == 51 * 100


async def test_guest_cart_changes_and_merge_at_login_caps_quantities(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    shoes, socks = catalog["shoes"]["id"], catalog["socks"]["id"]
    async with http.post(f"{cart_url}/items", json={"product_id": shoes, "quantity": 60}) as resp:
        token = resp.headers["x-cart-token"]
    guest = {"x-cart-token": token}
    async with http.post(f"{cart_url}/items", json={"product_id": socks, "quantity": 4}, headers=guest) as resp:
        assert resp.headers.get("x-cart-token") is None  # the token is only handed out once
    async with http.patch(f"{cart_url}/items/{socks}", json={"quantity": 2}, headers=guest) as resp:
        assert {line["product_id"]: line["quantity"] for line in (await resp.json())["items"]} == {shoes: 60, socks: 2}

    shopper = await new_shopper(http, stack.service_url("user"))
    async with http.post(f"{cart_url}/items", json={"product_id": shoes, "quantity": 50}, headers=shopper.headers):
        pass
    # The first request that carries both the login and the guest token merges, capped at 99.
    async with http.get(cart_url, headers={**shopper.headers, **guest}) as resp:
        merged = await resp.json()
    assert {line["product_id"]: line["quantity"] for line in merged["items"]} == {shoes: 99, socks: 2}
    async with http.get(cart_url, headers={**shopper.headers, **guest}) as resp:
        assert (await resp.json())["items"] == merged["items"]  # merged once, not again
    async with http.get(cart_url, headers=guest) as resp:
        assert (await resp.json())["id"] is None  # the guest cart is gone
    async with http.delete(f"{cart_url}/items/{socks}", headers=guest) as resp:
        await problem(resp, 404)


async def test_concurrent_merges_of_one_guest_cart_move_its_lines_once(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    async with http.post(f"{cart_url}/items", json={"product_id": catalog["socks"]["id"], "quantity": 5}) as resp:
        token = resp.headers["x-cart-token"]
    shopper = await new_shopper(http, stack.service_url("user"))

    async def merge() -> int:
        async with http.post(f"{cart_url}/merge", json={"cart_token": token}, headers=shopper.headers) as resp:
            return resp.status

    assert sorted(await asyncio.gather(*(merge() for _ in range(6)))) == [200] + [404] * 5
    async with http.get(cart_url, headers=shopper.headers) as resp:
        assert [line["quantity"] for line in (await resp.json())["items"]] == [5]


async def test_concurrent_retries_of_remove_ordered_apply_once(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    cart_url = stack.service_url("cart")
    async with http.post(
        f"{cart_url}/v1/cart/items", json={"product_id": catalog["socks"]["id"], "quantity": 9}, headers=shopper.headers
    ):
        pass
    # The same product twice in one order counts as 2 + 3.
    order = {"order_id": str(uuid.uuid4()), "lines": [{"product_id": catalog["socks"]["id"], "quantity": 2},
                                                       {"product_id": catalog["socks"]["id"], "quantity": 3}]}

    async def remove() -> bool:
        async with http.post(f"{cart_url}/internal/v1/carts/{shopper.user_id}/remove-ordered", json=order) as resp:
            assert resp.status == 200, await resp.text()
            removed: bool = (await resp.json())["removed"]
            return removed

    assert sorted(await asyncio.gather(*(remove() for _ in range(5)))) == [False] * 4 + [True]
    async with http.get(f"{cart_url}/internal/v1/carts/{shopper.user_id}") as resp:
        assert [line["quantity"] for line in (await resp.json())["items"]] == [4]
    # A user without a cart: nothing to remove, and no error.
    async with http.post(
        f"{cart_url}/internal/v1/carts/{uuid.uuid4()}/remove-ordered", json={**order, "order_id": str(uuid.uuid4())}
    ) as resp:
        assert (await resp.json()) == {"removed": False}
