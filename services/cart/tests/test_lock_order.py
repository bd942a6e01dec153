"""Every write to a cart's lines locks the cart row first, so no two writes of one cart deadlock.

ADD, MERGE and remove-ordered lock the cart row, then a line. A change, removal or clear that took
the line first and the cart second closed the cycle: two tabs adding and changing one product got a
deadlock, which the client saw as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from cart_service.services import CartStore
from commerce_platform.database import Database
from commerce_platform.devstack.launcher import Stack
from commerce_platform.errors import NotFound
from commerce_platform.testing import new_shopper

STATEMENTS: dict[str, Callable[[CartStore, uuid.UUID, uuid.UUID], Awaitable[None]]] = {
    "set_quantity": lambda store, cart_id, product_id: store.set_quantity(cart_id, product_id, 5),
    "remove": lambda store, cart_id, product_id: store.remove(cart_id, product_id),
    "clear": lambda store, cart_id, _product_id: store.clear(cart_id),
}


async def _wait_until_blocked(cart_db: asyncpg.Pool, application_name: str) -> None:
    """Until a session of `application_name` waits for a row lock."""
    deadline = time.monotonic() + 5
    while not await cart_db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        application_name,
    ):
        assert time.monotonic() < deadline, "the statement never waited for the cart row"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("statement", list(STATEMENTS))
async def test_a_line_write_waits_for_the_cart_row_before_it_touches_a_line(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any], cart_db: asyncpg.Pool, statement: str
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    socks = catalog["socks"]["id"]
    async with http.post(
        f"{stack.service_url('cart')}/v1/cart/items", json={"product_id": socks, "quantity": 2}, headers=shopper.headers
    ) as resp:
        cart_id = uuid.UUID((await resp.json())["id"])
    application_name = f"cart-lock-order-{statement}"
    database = Database(stack.admin_database_url, schema="carts", application_name=application_name)
    try:
        async with cart_db.acquire() as other, other.transaction():
            # Another write of this cart, as ADD and remove-ordered do it: the cart row first...
            await other.execute("UPDATE cart SET updated_at = now() WHERE id = $1", cart_id)
            write = asyncio.create_task(STATEMENTS[statement](CartStore(database), cart_id, uuid.UUID(socks)))
            await _wait_until_blocked(cart_db, application_name)
            # ...then the line. Had the statement taken the line before waiting for the cart row,
            # this would wait for it, and Postgres would abort one of the two as a deadlock.
            async with asyncio.timeout(3):
                await other.execute(
                    "UPDATE cart_item SET quantity = quantity + 1 WHERE cart_id = $1 AND product_id = $2",
                    cart_id, uuid.UUID(socks),
                )
        # Once the other write commits, the statement runs on the line as that write left it.
        await asyncio.wait_for(write, 5)
    finally:
        await database.close()
    lines = await cart_db.fetch("SELECT quantity FROM cart_item WHERE cart_id = $1", cart_id)
    assert [line["quantity"] for line in lines] == ([5] if statement == "set_quantity" else [])


async def test_racing_adds_changes_and_removals_of_one_line_never_deadlock(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any], cart_database: Database
) -> None:
    """The store's statements raced on one line, without the HTTP hops that spread requests apart:
    before the cart row was locked first, about one round in six deadlocked."""
    shopper = await new_shopper(http, stack.service_url("user"))
    user_id, socks = uuid.UUID(shopper.user_id), uuid.UUID(catalog["socks"]["id"])
    store = CartStore(cart_database)
    cart_id = (await store.add(socks, 1, user_id=user_id)).id
    assert cart_id is not None

    async def unless_gone(write: Awaitable[None]) -> None:
        with contextlib.suppress(NotFound):  # a racing removal got there first: a clean 404
            await write

    started = time.monotonic()
    for _ in range(60):
        await asyncio.gather(
            store.add(socks, 1, user_id=user_id),
            store.add(socks, 1, user_id=user_id),
            unless_gone(store.set_quantity(cart_id, socks, 2)),
            unless_gone(store.remove(cart_id, socks)),
        )
    # A deadlock costs a second (deadlock_timeout) before Postgres breaks it; none happened.
    assert time.monotonic() - started < 3


async def test_racing_adds_changes_and_removals_of_one_line_never_fail(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any]
) -> None:
    """Two tabs on one product: adds race quantity changes and removals. Each request either applies
    or is a clean 4xx (the line was just removed: 404); none is a 5xx."""
    shopper = await new_shopper(http, stack.service_url("user"))
    items = f"{stack.service_url('cart')}/v1/cart/items"
    socks = catalog["socks"]["id"]

    async def call(method: str, url: str, body: dict[str, Any] | None = None) -> int:
        async with http.request(method, url, json=body, headers=shopper.headers) as resp:
            await resp.read()
            return resp.status

    statuses: list[int] = []
    for _ in range(8):
        statuses += await asyncio.gather(
            call("POST", items, {"product_id": socks, "quantity": 1}),
            call("POST", items, {"product_id": socks, "quantity": 1}),
            call("PATCH", f"{items}/{socks}", {"quantity": 3}),
            call("PATCH", f"{items}/{socks}", {"quantity": 2}),
            call("DELETE", f"{items}/{socks}"),
        )
    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {200, 404}, statuses
