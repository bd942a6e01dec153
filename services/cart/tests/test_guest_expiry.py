"""Guest carts lapse 30 days after their last change, not after their creation, and lapsed ones are
purged with their lines."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg

from cart_service.purge import purge_once
from commerce_platform.database import Database
from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import new_shopper

DAY = 86_400


async def _days_left(cart_db: asyncpg.Pool, cart_id: str) -> float:
    seconds: float = await cart_db.fetchval(
        "SELECT extract(epoch FROM expires_at - now()) FROM cart WHERE id = $1", uuid.UUID(cart_id)
    )
    return seconds / DAY


async def _nearly_lapse(cart_db: asyncpg.Pool, cart_id: str) -> None:
    """Day 30 minus a minute: the guest is still shopping."""
    await cart_db.execute("UPDATE cart SET expires_at = now() + interval '1 minute' WHERE id = $1", uuid.UUID(cart_id))


async def test_every_write_pushes_a_guest_carts_expiry_forward(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any], cart_db: asyncpg.Pool
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    shoes, socks = catalog["shoes"]["id"], catalog["socks"]["id"]
    async with http.post(f"{cart_url}/items", json={"product_id": shoes}) as resp:
        body = await resp.json()
        guest = {"x-cart-token": resp.headers["x-cart-token"]}
    cart_id = body["id"]
    assert 29.9 < await _days_left(cart_db, cart_id) <= 30

    writes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{cart_url}/items", {"product_id": socks}),
        ("PATCH", f"{cart_url}/items/{socks}", {"quantity": 3}),
        ("DELETE", f"{cart_url}/items/{socks}", None),
        ("DELETE", f"{cart_url}/", None),
    ]
    for method, url, payload in writes:
        await _nearly_lapse(cart_db, cart_id)
        async with http.request(method, url, json=payload, headers=guest) as resp:
            assert resp.status == 200, await resp.text()
        assert await _days_left(cart_db, cart_id) > 29.9, (method, url)
    # A read changes nothing, so it does not extend the cart's life.
    await _nearly_lapse(cart_db, cart_id)
    async with http.get(cart_url, headers=guest) as resp:
        assert (await resp.json())["id"] == cart_id
    assert await _days_left(cart_db, cart_id) < 1


async def test_lapsed_guest_carts_are_purged_with_their_lines(
    stack: Stack, http: aiohttp.ClientSession, catalog: dict[str, Any], cart_db: asyncpg.Pool,
    cart_database: Database,
) -> None:
    cart_url = f"{stack.service_url('cart')}/v1/cart"
    guests: list[str] = []
    for _ in range(2):
        async with http.post(f"{cart_url}/items", json={"product_id": catalog["socks"]["id"]}) as resp:
            guests.append((await resp.json())["id"])
    lapsed, live = (uuid.UUID(cart_id) for cart_id in guests)
    shopper = await new_shopper(http, stack.service_url("user"))
    async with http.post(f"{cart_url}/items", json={"product_id": catalog["socks"]["id"]}, headers=shopper.headers):
        pass
    await cart_db.execute("UPDATE cart SET expires_at = now() - interval '1 second' WHERE id = $1", lapsed)

    assert await purge_once(cart_database, 1000) >= 1
    assert await cart_db.fetchval("SELECT count(*) FROM cart WHERE id = $1", lapsed) == 0
    assert await cart_db.fetchval("SELECT count(*) FROM cart_item WHERE cart_id = $1", lapsed) == 0
    assert await cart_db.fetchval("SELECT count(*) FROM cart_item WHERE cart_id = $1", live) == 1
    async with http.get(cart_url, headers=shopper.headers) as resp:
        assert len((await resp.json())["items"]) == 1  # a user's cart never lapses
    assert await purge_once(cart_database, 1000) == 0  # nothing left to purge

