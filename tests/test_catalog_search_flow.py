"""Through the gateway: a new product becomes searchable with its stock, then follows a price change and a deletion.

Everything between the services travels as events (product service outbox -> SNS -> the search
queue; inventory outbox -> SNS -> the same queue), so each step polls search for a bounded time.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from commerce_platform.devstack.launcher import Stack

# Event lag is well under a second when healthy; the bound leaves room for a loaded CI machine.
SEARCHABLE_WITHIN_SECONDS = 10.0


def _word() -> str:
    """A made-up word (letters only) that no other product contains."""
    return "zq" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))


async def _admin_token(http: aiohttp.ClientSession, stack: Stack) -> str:
    # A documentation-range client address of our own, so the login throttle never counts other tests.
    headers = {"X-Forwarded-For": "2001:db8::" + secrets.token_hex(2)}
    credentials = {"email": stack.admin_email, "password": stack.admin_password}
    async with http.post(f"{stack.gateway_url}/v1/auth/login", json=credentials, headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return str(body["access_token"])


async def _send(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, (await resp.json(content_type=None) if resp.content_length != 0 else None)


async def _search_until(
    http: aiohttp.ClientSession,
    stack: Stack,
    params: dict[str, str],
    done: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Poll `GET /v1/search` until `done(body)`; fail with the last body after the time bound."""
    deadline = time.monotonic() + SEARCHABLE_WITHIN_SECONDS
    while True:
        async with http.get(f"{stack.gateway_url}/v1/search", params=params) as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"search did not catch up in {SEARCHABLE_WITHIN_SECONDS}s: {body}"
        await asyncio.sleep(0.1)


def _item(body: dict[str, Any], product_id: str) -> dict[str, Any] | None:
    return next((item for item in body["items"] if item["product_id"] == product_id), None)


async def test_a_new_product_becomes_searchable_with_its_stock(stack: Stack, http: aiohttp.ClientSession) -> None:
    token = await _admin_token(http, stack)
    gateway = stack.gateway_url
    word = _word()
    outdoor, trail = f"{word}-outdoor", f"{word}-trail"
    status, _ = await _send(http, "POST", f"{gateway}/v1/categories", token, {"slug": outdoor, "name": "Outdoor"})
    assert status == 201
    status, _ = await _send(
        http, "POST", f"{gateway}/v1/categories", token, {"slug": trail, "name": "Trail", "parent_slug": outdoor}
    )
    assert status == 201
    sku = f"RUN-{uuid.uuid4().hex[:8].upper()}"
    status, product = await _send(
        http,
        "POST",
        f"{gateway}/v1/products",
        token,
        {
            "sku": sku,
            "name": "Summit Trail Runner",
            "description": "Grippy soles for muddy mountain paths.",
            "price_cents": 7999,
            "currency": "EUR",
            "category": trail,
            "attributes": {"color": "orange", "size": 44},
        },
    )
    assert status == 201, product
    product_id = str(product["id"])

    # Searchable by its words, within the parent category, with a typo too.
    query = {"q": "trail runner", "category": outdoor}
    found = await _search_until(http, stack, query, lambda body: _item(body, product_id) is not None)
    item = _item(found, product_id)
    assert item is not None
    assert (item["sku"], item["name"], item["price_cents"], item["currency"]) == (
        sku, "Summit Trail Runner", 7999, "EUR",
    )
    assert item["category_slug"] == trail
    assert found["facets"]["categories"] == [{"slug": trail, "count": 1}]
    async with http.get(f"{gateway}/v1/search", params={"q": "summit trial runner", "category": outdoor}) as resp:
        typo = await resp.json()
    assert typo["matched_by"] == "fuzzy"
    assert _item(typo, product_id) is not None

    # A stock count reaches search through the inventory service's StockChanged.
    status, level = await _send(http, "PUT", f"{gateway}/v1/inventory/{product_id}", token, {"on_hand": 7})
    assert status == 200, level
    in_stock = {**query, "in_stock": "true"}
    stocked = await _search_until(
        http, stack, in_stock, lambda body: (_item(body, product_id) or {}).get("available") == 7
    )
    assert _item(stocked, product_id)["in_stock"] is True  # type: ignore[index]

    # A price change follows, and a deletion takes it out of every result.
    status, changed = await _send(http, "PATCH", f"{gateway}/v1/products/{product_id}", token, {"price_cents": 6499})
    assert status == 200, changed
    await _search_until(http, stack, query, lambda body: (_item(body, product_id) or {}).get("price_cents") == 6499)
    status, _ = await _send(http, "DELETE", f"{gateway}/v1/products/{product_id}", token)
    assert status in (200, 204)
    gone = await _search_until(http, stack, query, lambda body: _item(body, product_id) is None)
    assert gone["total"] == 0
