"""The internal batch lookup that carts and orders price their lines with."""

from __future__ import annotations

import uuid
from typing import Any


async def test_lookup_returns_current_prices_and_flags_deleted_and_unknown_ids(
    public: Any, admin: Any, catalog: Any
) -> None:
    shoes = await catalog.category("Shoes")
    live = await catalog.product(shoes, price_cents=1500, currency="USD")
    gone = await catalog.product(shoes, price_cents=900)
    (await admin.call("PATCH", f"/v1/products/{live['id']}", json={"price_cents": 1250})).ok(200)
    assert (await admin.call("DELETE", f"/v1/products/{gone['id']}")).status == 204
    unknown = str(uuid.uuid4())

    body = {"ids": [live["id"], gone["id"], unknown, live["id"]]}
    result = (await public.call("POST", "/internal/v1/products/lookup", json=body)).ok(200)

    by_id = {item["id"]: item for item in result["items"]}
    assert set(by_id) == {live["id"], gone["id"]}
    assert by_id[live["id"]] == {
        "id": live["id"],
        "sku": live["sku"],
        "name": live["name"],
        "price_cents": 1250,
        "currency": "USD",
        "active": True,
        "revision": 2,
    }
    assert by_id[gone["id"]]["active"] is False
    assert result["missing"] == [unknown]


async def test_the_gateway_does_not_expose_internal_routes(stack: Any, http: Any) -> None:
    async with http.post(
        f"{stack.gateway_url}/internal/v1/products/lookup", json={"ids": [str(uuid.uuid4())]}
    ) as resp:
        assert resp.status == 404
