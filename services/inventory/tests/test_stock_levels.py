"""Admins set and adjust stock, with an audit trail of movements; anyone reads a level."""

from __future__ import annotations

import uuid
from typing import Any


async def test_set_then_read_through_the_service_and_the_gateway(
    inventory: Any, public: Any, stack: Any, http: Any
) -> None:
    product_id = str(uuid.uuid4())
    set_reply = (await inventory.admin.call("PUT", f"/v1/inventory/{product_id}", json={"on_hand": 7})).ok(200)
    assert set_reply == {"product_id": product_id, "on_hand": 7, "reserved": 0, "available": 7}

    assert (await public.call("GET", f"/v1/inventory/{product_id}")).ok(200) == set_reply
    async with http.get(f"{stack.gateway_url}/v1/inventory/{product_id}") as resp:
        assert resp.status == 200
        assert await resp.json() == set_reply

    # Setting it again overwrites rather than adds.
    again = (await inventory.admin.call("PUT", f"/v1/inventory/{product_id}", json={"on_hand": 3})).ok(200)
    assert again["on_hand"] == 3 and again["available"] == 3


async def test_adjustments_change_stock_and_leave_an_audit_trail(inventory: Any) -> None:
    product_id = await inventory.stock(10)
    admin = inventory.admin
    restocked = (
        await admin.call(
            "POST",
            f"/v1/inventory/{product_id}/adjustments",
            json={"delta": 5, "reason": "restock", "note": "PO 4711"},
        )
    ).ok(201)
    assert restocked == {"product_id": product_id, "on_hand": 15, "reserved": 0, "available": 15}
    damaged = (
        await admin.call("POST", f"/v1/inventory/{product_id}/adjustments", json={"delta": -2, "reason": "damage"})
    ).ok(201)
    assert damaged["on_hand"] == 13
    corrected = (
        await admin.call("POST", f"/v1/inventory/{product_id}/adjustments", json={"delta": -1, "reason": "correction"})
    ).ok(201)
    assert corrected["on_hand"] == 12
    assert (await inventory.level(product_id))["on_hand"] == 12

    trail = (await admin.call("GET", f"/v1/inventory/{product_id}/movements")).ok(200)
    assert trail["total"] == 4 and trail["page"] == 1
    assert [(m["reason"], m["delta"], m["on_hand_after"]) for m in trail["items"]] == [
        ("correction", -1, 12),
        ("damage", -2, 13),
        ("restock", 5, 15),
        ("stock_count", 10, 10),
    ]
    assert trail["items"][2]["note"] == "PO 4711"
    # Every manual change names the admin who made it.
    assert len({m["actor_id"] for m in trail["items"]}) == 1 and trail["items"][0]["actor_id"] is not None

    second_page = (
        await admin.call("GET", f"/v1/inventory/{product_id}/movements", params={"page": 2, "page_size": 3})
    ).ok(200)
    assert second_page["total"] == 4 and second_page["page_size"] == 3
    assert [m["reason"] for m in second_page["items"]] == ["stock_count"]


async def test_setting_the_same_level_records_no_movement(inventory: Any, stock_events: Any) -> None:
    product_id = await inventory.stock(4)
    await inventory.stock(4, product_id)
    trail = (await inventory.admin.call("GET", f"/v1/inventory/{product_id}/movements")).ok(200)
    assert trail["total"] == 1
    assert [e["revision"] for e in await stock_events(product_id)] == [1]


async def test_on_hand_cannot_drop_below_what_is_reserved(inventory: Any) -> None:
    product_id = await inventory.stock(5)
    (await inventory.reserve({product_id: 3})).ok(201)

    problem = (await inventory.admin.call("PUT", f"/v1/inventory/{product_id}", json={"on_hand": 2})).problem(409)
    assert problem["reserved"] == 3 and problem["requested_on_hand"] == 2
    adjust = await inventory.admin.call(
        "POST", f"/v1/inventory/{product_id}/adjustments", json={"delta": -3, "reason": "shrinkage"}
    )
    adjust.problem(409)
    assert await inventory.level(product_id) == {"product_id": product_id, "on_hand": 5, "reserved": 3, "available": 2}

    # Down to exactly what is reserved is allowed: nothing is left to sell.
    exact = (await inventory.admin.call("PUT", f"/v1/inventory/{product_id}", json={"on_hand": 3})).ok(200)
    assert exact == {"product_id": product_id, "on_hand": 3, "reserved": 3, "available": 0}


async def test_unknown_products_are_404(inventory: Any, public: Any) -> None:
    unknown = str(uuid.uuid4())
    (await public.call("GET", f"/v1/inventory/{unknown}")).problem(404)
    (
        await inventory.admin.call(
            "POST", f"/v1/inventory/{unknown}/adjustments", json={"delta": 1, "reason": "restock"}
        )
    ).problem(404)
    (await inventory.admin.call("GET", f"/v1/inventory/{unknown}/movements")).problem(404)
