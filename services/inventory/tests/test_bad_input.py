"""Bad input on every endpoint is a 400/401/403/404 problem, and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.mark.parametrize(
    "body",
    [
        {"on_hand": -1},
        {"on_hand": 1.5},
        {"on_hand": 2_000_000_000},
        {},
        {"on_hand": 3, "reserved": 1},
    ],
)
async def test_set_level_rejects_bad_bodies(inventory: Any, body: dict[str, Any]) -> None:
    product_id = await inventory.stock(2)
    (await inventory.admin.call("PUT", f"/v1/inventory/{product_id}", json=body)).problem(400)
    assert (await inventory.level(product_id))["on_hand"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"delta": 0, "reason": "correction"},
        {"delta": -3, "reason": "restock"},
        {"delta": 2, "reason": "damage"},
        {"delta": 1, "reason": "found-it-behind-the-shelf"},
        {"delta": 1},
        {"reason": "restock"},
        {"delta": 1, "reason": "restock", "note": "x" * 501},
    ],
)
async def test_adjustment_rejects_bad_bodies(inventory: Any, body: dict[str, Any]) -> None:
    product_id = await inventory.stock(2)
    path = f"/v1/inventory/{product_id}/adjustments"
    (await inventory.admin.call("POST", path, json=body)).problem(400)
    trail = (await inventory.admin.call("GET", f"/v1/inventory/{product_id}/movements")).ok(200)
    assert trail["total"] == 1


async def test_adjustment_cannot_take_stock_below_zero(inventory: Any) -> None:
    product_id = await inventory.stock(2)
    path = f"/v1/inventory/{product_id}/adjustments"
    (await inventory.admin.call("POST", path, json={"delta": -3, "reason": "damage"})).problem(409)
    assert (await inventory.level(product_id))["on_hand"] == 2


async def test_writes_and_audit_need_an_admin(inventory: Any, customer: Any, public: Any) -> None:
    product_id = await inventory.stock(2)
    writes = [
        ("PUT", f"/v1/inventory/{product_id}", {"on_hand": 100}),
        ("POST", f"/v1/inventory/{product_id}/adjustments", {"delta": 100, "reason": "restock"}),
        ("GET", f"/v1/inventory/{product_id}/movements", None),
    ]
    for method, path, body in writes:
        (await customer.call(method, path, json=body)).problem(403)
        anonymous = (await public.call(method, path, json=body)).problem(401)
        assert anonymous["type"].endswith("unauthorized")
        (await public.as_("not-a-jwt").call(method, path, json=body)).problem(401)
    assert (await inventory.level(product_id))["on_hand"] == 2


async def test_malformed_product_ids_are_rejected(public: Any, admin: Any) -> None:
    assert (await public.call("GET", "/v1/inventory/not-a-uuid")).status in (400, 404)
    assert (await admin.call("PUT", "/v1/inventory/42", json={"on_hand": 1})).status in (400, 404)


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [{"quantity": 1}],
        [{"product_id": "PRODUCT", "quantity": 0}],
        [{"product_id": "PRODUCT", "quantity": -2}],
        [{"product_id": "PRODUCT", "quantity": 1}, {"product_id": "PRODUCT", "quantity": 1}],
        [{"product_id": "not-a-uuid", "quantity": 1}],
    ],
)
async def test_reservation_rejects_bad_lines(inventory: Any, lines: list[dict[str, Any]]) -> None:
    product_id = await inventory.stock(5)
    body = {
        "reservation_id": str(uuid.uuid4()),
        "lines": [
            {**line, "product_id": product_id} if line.get("product_id") == "PRODUCT" else line for line in lines
        ],
    }
    (await inventory.internal.call("POST", "/internal/v1/reservations", json=body)).problem(400)
    (await inventory.reservation(body["reservation_id"])).problem(404)
    assert (await inventory.level(product_id))["reserved"] == 0


@pytest.mark.parametrize("ttl", [0, -5, 3601, 2.5, "soon"])
async def test_reservation_ttl_is_bounded(inventory: Any, ttl: Any) -> None:
    product_id = await inventory.stock(5)
    (await inventory.reserve({product_id: 1}, ttl=ttl)).problem(400)
    assert (await inventory.level(product_id))["reserved"] == 0


async def test_reservation_requires_an_id(inventory: Any) -> None:
    product_id = await inventory.stock(5)
    body = {"lines": [{"product_id": product_id, "quantity": 1}]}
    (await inventory.internal.call("POST", "/internal/v1/reservations", json=body)).problem(400)
    body["reservation_id"] = "twelve"
    (await inventory.internal.call("POST", "/internal/v1/reservations", json=body)).problem(400)


async def test_unknown_reservations_are_404(inventory: Any) -> None:
    unknown = str(uuid.uuid4())
    (await inventory.reservation(unknown)).problem(404)
    (await inventory.commit(unknown)).problem(404)
    (await inventory.pin(unknown)).problem(404)
    # Releasing one records it as released (a reserve of it still on its way must not hold stock).
    assert (await inventory.release(unknown)).ok(200)["status"] == "released"


async def test_reservations_are_not_reachable_through_the_gateway(stack: Any, http: Any, inventory: Any) -> None:
    product_id = await inventory.stock(5)
    body = {"reservation_id": str(uuid.uuid4()), "lines": [{"product_id": product_id, "quantity": 1}]}
    async with http.post(f"{stack.gateway_url}/internal/v1/reservations", json=body) as resp:
        assert resp.status == 404
    assert (await inventory.level(product_id))["reserved"] == 0


async def test_a_movements_page_past_the_last_allowed_is_a_400(inventory: Any) -> None:
    """A huge page number used to reach the database as an OFFSET beyond bigint (a 409 on a GET)."""
    product_id = await inventory.stock(2)
    path = f"/v1/inventory/{product_id}/movements"
    for page in (10_001, 10**19):
        (await inventory.admin.call("GET", path, params={"page": str(page)})).problem(400)
    assert (await inventory.admin.call("GET", path, params={"page": 10_000})).ok(200)["items"] == []


async def test_adjustments_cannot_stack_on_hand_past_the_most_a_record_holds(inventory: Any) -> None:
    """Each delta is bounded, stacked ones used to overflow the integer columns (a 500)."""
    product_id = await inventory.stock(1_000_000_000)
    path = f"/v1/inventory/{product_id}/adjustments"
    body = (await inventory.admin.call("POST", path, json={"delta": 1_000_000_000, "reason": "restock"})).problem(409)
    assert (body["on_hand"], body["delta"], body["max_on_hand"]) == (1_000_000_000, 1_000_000_000, 1_000_000_000)
    (await inventory.admin.call("POST", path, json={"delta": 1, "reason": "restock"})).problem(409)
    assert (await inventory.level(product_id))["on_hand"] == 1_000_000_000
    # Up to the bound is fine, from below.
    (await inventory.admin.call("POST", path, json={"delta": -10, "reason": "damage"})).ok(201)
    assert (await inventory.admin.call("POST", path, json={"delta": 10, "reason": "restock"})).ok(201)["on_hand"] == (
        1_000_000_000
    )
