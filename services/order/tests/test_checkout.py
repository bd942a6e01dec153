"""Checkout through the order service against the running stack: the happy path, every refusal, and
idempotency under concurrency."""

import asyncio
import datetime
import json
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest

from commerce_platform.database import asyncpg_dsn
from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import (
    SHIPPING_ADDRESS,
    Shopper,
    add_to_cart,
    admin_headers,
    create_category,
    create_product,
    new_shopper,
    problem,
    set_stock,
    stock_level,
)


@pytest.fixture(scope="module")
async def admin(stack: Stack, http: aiohttp.ClientSession) -> dict[str, str]:
    return await admin_headers(http, stack.service_url("user"), stack.admin_email, stack.admin_password)


@pytest.fixture(scope="module")
async def category(stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str]) -> str:
    return await create_category(http, stack.service_url("product"), admin)


async def stocked_product(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str, *, stock: int, price: int = 1500
) -> dict[str, Any]:
    product = await create_product(http, stack.service_url("product"), admin, category=category, price_cents=price)
    await set_stock(http, stack.service_url("inventory"), admin, product["id"], stock)
    return product


async def checkout(
    http: aiohttp.ClientSession, stack: Stack, shopper: Shopper, *, key: str | None = None,
    payment_method: str = "pm_card_visa", address: dict[str, Any] | None = None,
) -> aiohttp.ClientResponse:
    headers = {**shopper.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    body = {"shipping_address": address or SHIPPING_ADDRESS, "payment_method": payment_method}
    return await http.post(f"{stack.gateway_url}/v1/orders", json=body, headers=headers)


async def test_checkout_confirms_charges_once_and_empties_the_cart(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=5, price=2000)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 2)
    key = str(uuid.uuid4())
    async with await checkout(http, stack, shopper, key=key) as resp:
        order = await resp.json()
        assert resp.status == 201, order
    assert order["status"] == "confirmed"
    assert order["total_cents"] == 4000
    assert order["currency"] == "EUR"
    assert [(i["product_id"], i["quantity"], i["unit_price_cents"]) for i in order["items"]] == [
        (product["id"], 2, 2000)
    ]
    assert order["payment_id"]
    assert [c["to_status"] for c in order["status_history"]] == ["pending", "confirmed"]
    # The same key again: the same order, no second charge.
    async with await checkout(http, stack, shopper, key=key) as resp:
        assert resp.status == 201
        assert (await resp.json())["id"] == order["id"]
    payments_url = f"{stack.service_url('payment')}/internal/v1/payments"
    async with http.get(payments_url, params={"order_id": order["id"]}) as resp:
        assert len((await resp.json())["items"]) == 1
    async with http.get(f"{stack.gateway_url}/v1/cart", headers=shopper.headers) as resp:
        assert (await resp.json())["items"] == []
    async with http.get(f"{stack.gateway_url}/v1/orders/{order['id']}", headers=shopper.headers) as resp:
        assert (await resp.json())["id"] == order["id"]
    async with http.get(f"{stack.gateway_url}/v1/orders", headers=shopper.headers) as resp:
        assert [o["id"] for o in (await resp.json())["items"]] == [order["id"]]
    # Someone else cannot see it; an admin can.
    stranger = await new_shopper(http, stack.service_url("user"))
    async with http.get(f"{stack.gateway_url}/v1/orders/{order['id']}", headers=stranger.headers) as resp:
        await problem(resp, 404)
    async with http.get(f"{stack.gateway_url}/v1/orders/{order['id']}", headers=admin) as resp:
        assert resp.status == 200


async def test_declined_card_is_402_and_leaves_nothing_behind(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=4)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    key = str(uuid.uuid4())
    async with await checkout(http, stack, shopper, key=key, payment_method="pm_card_chargeCustomerFail") as resp:
        body = await problem(resp, 402)
    assert body["decline_code"]
    assert await stock_level(http, stack.service_url("inventory"), product["id"]) == {
        "product_id": product["id"], "on_hand": 4, "reserved": 0, "available": 4,
    }
    async with http.get(f"{stack.gateway_url}/v1/orders", headers=shopper.headers) as resp:
        assert (await resp.json())["items"] == []
    # The cart is untouched, and the same key answers the same refusal.
    async with http.get(f"{stack.gateway_url}/v1/cart", headers=shopper.headers) as resp:
        assert len((await resp.json())["items"]) == 1
    async with await checkout(http, stack, shopper, key=key, payment_method="pm_card_chargeCustomerFail") as resp:
        await problem(resp, 402)


async def test_short_stock_is_409_with_the_short_lines(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    plenty = await stocked_product(stack, http, admin, category, stock=10)
    scarce = await stocked_product(stack, http, admin, category, stock=1)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, plenty["id"], 2)
    await add_to_cart(http, stack.service_url("cart"), shopper, scarce["id"], 3)
    async with await checkout(http, stack, shopper) as resp:
        body = await problem(resp, 409)
    assert [line["product_id"] for line in body["short_lines"]] == [scarce["id"]]
    assert (await stock_level(http, stack.service_url("inventory"), plenty["id"]))["reserved"] == 0


async def test_bad_requests_are_refused(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    async with await checkout(http, stack, shopper) as resp:
        await problem(resp, 422)  # empty cart
    product = await stocked_product(stack, http, admin, category, stock=3)
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    orders_url = f"{stack.gateway_url}/v1/orders"
    body = {"shipping_address": SHIPPING_ADDRESS, "payment_method": "pm_card_visa"}
    async with http.post(orders_url, json=body, headers=shopper.headers) as resp:
        await problem(resp, 400)  # no Idempotency-Key
    async with http.post(orders_url, json=body, headers={"Idempotency-Key": "k"}) as resp:
        await problem(resp, 401)
    for address in ({**SHIPPING_ADDRESS, "country": "XX"}, {k: v for k, v in SHIPPING_ADDRESS.items() if k != "city"}):
        async with await checkout(http, stack, shopper, address=address) as resp:
            await problem(resp, 400)
    async with await checkout(http, stack, shopper, payment_method="4242424242424242") as resp:
        await problem(resp, 400)
    key = str(uuid.uuid4())
    async with await checkout(http, stack, shopper, key=key) as resp:
        assert resp.status == 201
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    async with await checkout(http, stack, shopper, key=key, payment_method="pm_card_mastercard") as resp:
        await problem(resp, 422)  # same key, different body


async def test_concurrent_repeats_of_one_key_make_one_order_and_one_charge(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=10)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    key = str(uuid.uuid4())

    async def attempt() -> tuple[int, str]:
        async with await checkout(http, stack, shopper, key=key) as resp:
            return resp.status, (await resp.json())["id"]

    results = await asyncio.gather(*(attempt() for _ in range(10)))
    assert {status for status, _ in results} == {201}
    assert len({order_id for _, order_id in results}) == 1
    async with http.get(
        f"{stack.service_url('payment')}/internal/v1/payments", params={"order_id": results[0][1]}
    ) as resp:
        assert len((await resp.json())["items"]) == 1
    level = await stock_level(http, stack.service_url("inventory"), product["id"])
    assert level["on_hand"] - level["reserved"] == level["available"]
    assert level["available"] == 9


async def test_payment_service_down_is_503_and_releases_the_reservation(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=6)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 2)
    stack.stop_service("payment")
    try:
        async with await checkout(http, stack, shopper) as resp:
            await problem(resp, 503)
        assert (await stock_level(http, stack.service_url("inventory"), product["id"]))["reserved"] == 0
    finally:
        await stack.start_service("payment")
    async with await checkout(http, stack, shopper) as resp:
        assert resp.status == 201


async def test_cancel_refunds_and_is_guarded(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=5)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    async with await checkout(http, stack, shopper) as resp:
        order = await resp.json()
    stranger = await new_shopper(http, stack.service_url("user"))
    cancel_url = f"{stack.gateway_url}/v1/orders/{order['id']}/cancel"
    async with http.post(cancel_url, headers=stranger.headers) as resp:
        await problem(resp, 404)
    async with http.post(cancel_url, headers=shopper.headers, json={"reason": "changed my mind"}) as resp:
        cancelled = await resp.json()
        assert resp.status == 200, cancelled
    assert cancelled["status"] == "cancelled"
    assert cancelled["status_history"][-1]["reason"] == "changed my mind"
    payments_url = f"{stack.service_url('payment')}/internal/v1/payments"
    async with http.get(payments_url, params={"order_id": order["id"]}) as resp:
        assert (await resp.json())["items"][0]["status"] == "refunded"
    async with http.post(cancel_url, headers=shopper.headers) as resp:
        await problem(resp, 409)


async def test_the_checkout_answer_is_what_was_stored_and_announced(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    """The confirmed order and its OrderCreated event are built from what checkout wrote, not re-read:
    both must match the stored order exactly."""
    first = await stocked_product(stack, http, admin, category, stock=5, price=1250)
    second = await stocked_product(stack, http, admin, category, stock=5, price=399)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, first["id"], 2)
    await add_to_cart(http, stack.service_url("cart"), shopper, second["id"], 3)
    async with await checkout(http, stack, shopper) as resp:
        placed = await resp.json()
        assert resp.status == 201, placed
    assert [(i["product_id"], i["quantity"], i["line_total_cents"]) for i in placed["items"]] == [
        (first["id"], 2, 2500), (second["id"], 3, 1197),
    ]
    assert placed["total_cents"] == 3697
    async with http.get(f"{stack.gateway_url}/v1/orders/{placed['id']}", headers=shopper.headers) as resp:
        assert await resp.json() == placed

    conn = await asyncpg.connect(asyncpg_dsn(stack.admin_database_url))
    try:
        payload = await conn.fetchval(
            "SELECT payload FROM orders.outbox "
            "WHERE event_type = 'OrderCreated' AND convert_from(payload, 'UTF8') LIKE $1",
            f"%{placed['id']}%",
        )
        reservation_id = await conn.fetchval(
            "SELECT reservation_id FROM orders.customer_order WHERE id = $1", uuid.UUID(placed["id"])
        )
    finally:
        await conn.close()
    # The hold was pinned before the order was confirmed: however late inventory consumes
    # OrderCreated, the hold is still there to commit.
    reservation_url = f"{stack.service_url('inventory')}/internal/v1/reservations/{reservation_id}"
    async with http.get(reservation_url) as resp:
        hold = await resp.json()
    assert (hold["pinned"], hold["expires_at"]) == (True, None)
    event = json.loads(bytes(payload))["data"]
    assert event["order_id"] == placed["id"]
    assert event["user_id"] == shopper.user_id
    assert event["email"] == shopper.email
    assert event["reservation_id"] == str(reservation_id)
    assert event["total_cents"] == 3697
    assert event["currency"] == placed["currency"]
    assert [(i["product_id"], i["sku"], i["name"], i["quantity"], i["unit_price_cents"]) for i in event["items"]] == [
        (i["product_id"], i["sku"], i["name"], i["quantity"], i["unit_price_cents"]) for i in placed["items"]
    ]
    assert event["shipping_address"] == placed["shipping_address"]
    assert {k: v for k, v in event["shipping_address"].items() if v is not None} == SHIPPING_ADDRESS
    assert datetime.datetime.fromisoformat(event["created_at"]) == datetime.datetime.fromisoformat(
        placed["created_at"]
    )


async def test_a_cancelled_order_answers_what_was_stored(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=5)
    shopper = await new_shopper(http, stack.service_url("user"))
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    async with await checkout(http, stack, shopper) as resp:
        order = await resp.json()
    async with http.post(f"{stack.gateway_url}/v1/orders/{order['id']}/cancel", headers=admin) as resp:
        cancelled = await resp.json()
        assert resp.status == 200, cancelled
    assert [(c["from_status"], c["to_status"], c["reason"]) for c in cancelled["status_history"]] == [
        (None, "pending", None), ("pending", "confirmed", "payment succeeded"),
        ("confirmed", "cancelled", "cancelled by admin"),
    ]
    async with http.get(f"{stack.gateway_url}/v1/orders/{order['id']}", headers=shopper.headers) as resp:
        assert await resp.json() == cancelled


async def test_the_order_list_pages_placed_orders_newest_first(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str], category: str
) -> None:
    product = await stocked_product(stack, http, admin, category, stock=10)
    shopper = await new_shopper(http, stack.service_url("user"))
    placed = []
    for _ in range(3):
        await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
        async with await checkout(http, stack, shopper) as resp:
            assert resp.status == 201
            placed.append(await resp.json())
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    async with await checkout(http, stack, shopper, payment_method="pm_card_chargeCustomerFail") as resp:
        await problem(resp, 402)  # a failed checkout is not a placed order
    orders_url = f"{stack.gateway_url}/v1/orders"
    async with http.get(orders_url, headers=shopper.headers) as resp:
        page = await resp.json()
    assert page["total"] == 3
    assert page["items"] == placed[::-1]
    async with http.get(orders_url, params={"page": 2, "page_size": 2}, headers=shopper.headers) as resp:
        page = await resp.json()
    assert (page["total"], [o["id"] for o in page["items"]]) == (3, [placed[0]["id"]])
    async with http.get(orders_url, params={"page": 5, "page_size": 2}, headers=shopper.headers) as resp:
        assert (await resp.json())["items"] == []
    async with http.get(orders_url, params={"page_size": 100}, headers=admin) as resp:
        everyone = await resp.json()
    assert everyone["total"] >= 3
    assert {o["id"] for o in placed} <= {o["id"] for o in everyone["items"]}


async def test_a_page_past_the_last_allowed_is_a_400_not_a_500(stack: Stack, http: aiohttp.ClientSession) -> None:
    """A huge page number used to reach the database as an OFFSET beyond bigint (a 500)."""
    shopper = await new_shopper(http, stack.service_url("user"))
    orders_url = f"{stack.gateway_url}/v1/orders"
    for page in (10_001, 10**19):
        async with http.get(orders_url, params={"page": str(page)}, headers=shopper.headers) as resp:
            await problem(resp, 400)
    async with http.get(orders_url, params={"page": 10_000}, headers=shopper.headers) as resp:
        assert (resp.status, (await resp.json())["items"]) == (200, [])
