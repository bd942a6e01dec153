"""An admin demoted or deactivated in the user service loses admin power in the other services within
the standing cache window (ADMIN_STANDING_CACHE_SECONDS, 5 s), although the access token still says
`role: admin` for up to 15 minutes."""

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from commerce_platform.devstack.launcher import Stack
from commerce_platform.settings import PlatformSettings
from commerce_platform.testing import (
    Shopper,
    add_to_cart,
    admin_headers,
    create_category,
    create_product,
    login_token,
    new_shopper,
    place_order,
    set_stock,
)

pytestmark = pytest.mark.stack

# The services run with the default window; wait it out, plus a margin for the clocks of two processes.
CACHE_WINDOW = PlatformSettings(database_url="unused").admin_standing_cache_seconds + 0.5


async def new_admin(stack: Stack, http: aiohttp.ClientSession, bootstrap: dict[str, str]) -> Shopper:
    """A fresh account, promoted by the bootstrap admin and signed in again, so its token says admin."""
    user_url = stack.service_url("user")
    account = await new_shopper(http, user_url, name="Temporary Admin")
    async with http.patch(f"{user_url}/v1/users/{account.user_id}", json={"role": "admin"}, headers=bootstrap) as resp:
        assert resp.status == 200, await resp.text()
    token = await login_token(http, user_url, account.email, account.password)
    return Shopper(email=account.email, password=account.password, token=token, user_id=account.user_id)


async def create_product_as(stack: Stack, http: aiohttp.ClientSession, admin: Shopper, category: str) -> int:
    body = {
        "sku": f"SKU-{uuid.uuid4().hex[:12].upper()}", "name": "Standing check",
        "description": "Made by an admin whose standing is checked.",
        "price_cents": 100, "currency": "EUR", "category": category, "attributes": {},
    }
    async with http.post(f"{stack.service_url('product')}/v1/products", json=body, headers=admin.headers) as resp:
        return resp.status


async def get(http: aiohttp.ClientSession, url: str, who: Shopper, **params: Any) -> tuple[int, Any]:
    async with http.get(url, headers=who.headers, params={k: str(v) for k, v in params.items()}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_a_demoted_or_deactivated_admin_loses_admin_power_in_other_services(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    user_url, order_url = stack.service_url("user"), stack.service_url("order")
    bootstrap = await admin_headers(http, user_url, stack.admin_email, stack.admin_password)
    category = await create_category(http, stack.service_url("product"), bootstrap)
    product = await create_product(http, stack.service_url("product"), bootstrap, category=category)
    await set_stock(http, stack.service_url("inventory"), bootstrap, product["id"], 5)
    shopper = await new_shopper(http, user_url)
    await add_to_cart(http, stack.service_url("cart"), shopper, product["id"], 1)
    status, order = await place_order(http, order_url, shopper)
    assert status == 201, order
    someone_elses_order = f"{order_url}/v1/orders/{order['id']}"

    demoted, deactivated = await new_admin(stack, http, bootstrap), await new_admin(stack, http, bootstrap)
    for admin in (demoted, deactivated):
        # Admin power while the accounts are admins (and their standing is now cached).
        assert await create_product_as(stack, http, admin, category) == 201
        assert (await get(http, someone_elses_order, admin))[0] == 200

    for admin, change in ((demoted, {"role": "customer"}), (deactivated, {"is_active": False})):
        async with http.patch(f"{user_url}/v1/users/{admin.user_id}", json=change, headers=bootstrap) as resp:
            assert resp.status == 200, await resp.text()
    await asyncio.sleep(CACHE_WINDOW)

    # Same tokens, still unexpired and still saying role=admin.
    for admin, cancel_status in ((demoted, 404), (deactivated, 403)):
        assert await create_product_as(stack, http, admin, category) == 403
        async with http.put(
            f"{stack.service_url('inventory')}/v1/inventory/{product['id']}", json={"on_hand": 0}, headers=admin.headers
        ) as resp:
            assert resp.status == 403, await resp.text()
        # Cancel-with-refund of someone else's order: hidden from a customer, refused to a closed account.
        async with http.post(f"{someone_elses_order}/cancel", json={}, headers=admin.headers) as resp:
            assert resp.status == cancel_status, await resp.text()

    # Demoted: a customer now, who sees only their own orders (none).
    assert (await get(http, someone_elses_order, demoted))[0] == 404
    status, page = await get(http, f"{order_url}/v1/orders", demoted, page_size=100)
    assert status == 200 and page["items"] == [], page
    # Deactivated: refused outright.
    status, body = await get(http, f"{order_url}/v1/orders", deactivated)
    assert status == 403, body
    assert "deactivated" in body["detail"]

    # The order was neither cancelled nor refunded by either of them.
    status, still = await get(http, someone_elses_order, shopper)
    assert status == 200 and still["status"] == "confirmed", still

    # The bootstrap admin, whose standing is unchanged, keeps admin power.
    async with http.get(someone_elses_order, headers=bootstrap) as resp:
        assert resp.status == 200
