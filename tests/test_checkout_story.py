"""The design's whole sequence, driven as a client would through the gateway, every service its own
process: register, shop, check out, get the email, cancel; plus the races and redeliveries."""

import asyncio
from typing import Any

import aiohttp
import asyncpg
import pytest

from commerce_platform.aws import AwsClients
from commerce_platform.database import asyncpg_dsn
from commerce_platform.devstack.aws_emulator import ACCOUNT_ID, REGION
from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import (
    add_to_cart,
    admin_headers,
    create_category,
    create_product,
    eventually,
    mails_to,
    new_shopper,
    place_order,
    set_stock,
    stock_level,
)


@pytest.fixture(scope="module")
async def admin(stack: Stack, http: aiohttp.ClientSession) -> dict[str, str]:
    return await admin_headers(http, stack.gateway_url, stack.admin_email, stack.admin_password)


async def test_the_whole_story_through_the_gateway(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    gw = stack.gateway_url
    shopper = await new_shopper(http, gw, name="Grace Hopper")
    category = await create_category(http, gw, admin)
    product = await create_product(http, gw, admin, category=category, price_cents=3450, name="Compiler Mug")
    await set_stock(http, gw, admin, product["id"], 5)

    async def search() -> list[dict[str, Any]]:
        async with http.get(f"{gw}/v1/search", params={"q": "Compiler Mug", "category": category}) as resp:
            return (await resp.json())["items"]

    found = await eventually(
        search, lambda items: any(i["product_id"] == product["id"] and i["in_stock"] for i in items)
    )
    assert [i["product_id"] for i in found] == [product["id"]]

    await add_to_cart(http, gw, shopper, product["id"], 2)
    status, order = await place_order(http, gw, shopper)
    assert status == 201, order
    assert order["status"] == "confirmed"
    assert order["total_cents"] == 6900

    level = await eventually(lambda: stock_level(http, gw, product["id"]), lambda lv: lv["on_hand"] == 3)
    assert level == {"product_id": product["id"], "on_hand": 3, "reserved": 0, "available": 3}

    mails = await eventually(lambda: asyncio.to_thread(mails_to, stack.maildir, shopper.email), bool)
    assert len(mails) == 1
    assert str(order["id"])[:8].upper() in mails[0]["Subject"]

    async def notifications() -> list[dict[str, Any]]:
        async with http.get(f"{gw}/v1/notifications", headers=shopper.headers) as resp:
            return (await resp.json())["items"]

    sent = await eventually(notifications, lambda items: any(n["status"] == "sent" for n in items))
    assert [(n["type"], n["channel"], n["status"], n["order_id"]) for n in sent] == [
        ("order_confirmation", "email", "sent", order["id"])
    ]

    async with http.post(f"{gw}/v1/orders/{order['id']}/cancel", headers=shopper.headers) as resp:
        cancelled = await resp.json()
        assert resp.status == 200, cancelled
    assert cancelled["status"] == "cancelled"
    async with http.get(
        f"{stack.service_url('payment')}/internal/v1/payments", params={"order_id": order["id"]}
    ) as resp:
        payment = (await resp.json())["items"][0]
    assert payment["status"] == "refunded"
    level = await eventually(lambda: stock_level(http, gw, product["id"]), lambda lv: lv["on_hand"] == 5)
    assert level["on_hand"] == 5
    assert level["available"] == 5
    cancellation = await eventually(notifications, lambda items: any(n["type"] == "order_cancellation" for n in items))
    assert any(n["type"] == "order_cancellation" for n in cancellation)


async def test_thirty_shoppers_race_for_ten_units(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    gw = stack.gateway_url
    category = await create_category(http, gw, admin)
    product = await create_product(http, gw, admin, category=category, price_cents=999)
    await set_stock(http, gw, admin, product["id"], 10)
    shoppers = await asyncio.gather(*(new_shopper(http, gw) for _ in range(30)))
    for shopper in shoppers:
        await add_to_cart(http, gw, shopper, product["id"], 1)

    results = await asyncio.gather(*(place_order(http, gw, shopper) for shopper in shoppers))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 20, statuses
    level = await eventually(lambda: stock_level(http, gw, product["id"]), lambda lv: lv["on_hand"] == 0)
    assert level == {"product_id": product["id"], "on_hand": 0, "reserved": 0, "available": 0}


async def test_a_redelivered_order_created_changes_nothing_twice(
    stack: Stack, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    gw = stack.gateway_url
    shopper = await new_shopper(http, gw)
    category = await create_category(http, gw, admin)
    product = await create_product(http, gw, admin, category=category)
    await set_stock(http, gw, admin, product["id"], 8)
    await add_to_cart(http, gw, shopper, product["id"], 3)
    status, order = await place_order(http, gw, shopper)
    assert status == 201, order
    await eventually(lambda: stock_level(http, gw, product["id"]), lambda lv: lv["on_hand"] == 5)
    await eventually(lambda: asyncio.to_thread(mails_to, stack.maildir, shopper.email), bool)

    # The exact message the relay published, taken from the order service's outbox, sent again.
    conn = await asyncpg.connect(asyncpg_dsn(stack.admin_database_url))
    try:
        payload = await conn.fetchval(
            "SELECT payload FROM orders.outbox "
            "WHERE event_type = 'OrderCreated' AND convert_from(payload, 'UTF8') LIKE $1",
            f"%{order['id']}%",
        )
    finally:
        await conn.close()
    aws = AwsClients(region=REGION, endpoint_url=stack.aws_endpoint_url)
    async with aws.client("sns") as sns:
        await sns.publish(
            TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:order-events",
            Message=bytes(payload).decode(),
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": "OrderCreated"}},
        )
    await asyncio.sleep(3.0)  # ample time for both consumers to see it
    assert (await stock_level(http, gw, product["id"]))["on_hand"] == 5
    assert len(mails_to(stack.maildir, shopper.email)) == 1
