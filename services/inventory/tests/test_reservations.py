"""Checkout reservations through the internal API: all or nothing, idempotent, commit and release."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from inventory_service.reservations import ReservationService
from inventory_service.sweeper import sweep_once


async def test_one_short_line_reserves_nothing_and_the_409_lists_it(inventory: Any) -> None:
    plenty = await inventory.stock(5)
    scarce = await inventory.stock(1)
    untracked = str(uuid.uuid4())
    reservation_id = str(uuid.uuid4())

    problem = (await inventory.reserve({plenty: 2, scarce: 2, untracked: 1}, reservation_id=reservation_id)).problem(
        409
    )
    assert problem["type"].endswith("insufficient-stock")
    assert sorted(problem["short_lines"], key=lambda line: line["product_id"]) == sorted(
        [
            {"product_id": scarce, "requested": 2, "available": 1},
            {"product_id": untracked, "requested": 1, "available": 0},
        ],
        key=lambda line: line["product_id"],
    )
    assert (await inventory.level(plenty))["reserved"] == 0
    assert (await inventory.level(scarce))["reserved"] == 0
    (await inventory.reservation(reservation_id)).problem(404)

    # Nothing was stored under the id, so the checkout can retry with it once stock arrives.
    await inventory.stock(2, scarce)
    await inventory.stock(1, untracked)
    (await inventory.reserve({plenty: 2, scarce: 2, untracked: 1}, reservation_id=reservation_id)).ok(201)
    assert [(await inventory.level(p))["available"] for p in (plenty, scarce, untracked)] == [3, 0, 0]


async def test_the_same_reservation_id_returns_the_same_reservation(inventory: Any) -> None:
    product_id = await inventory.stock(10)
    reservation_id = str(uuid.uuid4())
    created = (await inventory.reserve({product_id: 4}, reservation_id=reservation_id)).ok(201)
    assert created["status"] == "held"
    assert created["lines"] == [{"product_id": product_id, "quantity": 4}]

    replayed = (await inventory.reserve({product_id: 4}, reservation_id=reservation_id)).ok(200)
    assert replayed == created
    assert (await inventory.level(product_id))["reserved"] == 4

    # Reusing the id for something else is a client bug, not a replay.
    (await inventory.reserve({product_id: 5}, reservation_id=reservation_id)).problem(409)
    assert (await inventory.level(product_id))["reserved"] == 4


async def test_concurrent_retries_of_one_reservation_hold_stock_once(inventory: Any) -> None:
    product_id = await inventory.stock(10)
    reservation_id = str(uuid.uuid4())
    replies = await asyncio.gather(
        *(inventory.reserve({product_id: 3}, reservation_id=reservation_id) for _ in range(8))
    )
    assert sorted(r.status for r in replies) == [200] * 7 + [201]
    assert (await inventory.level(product_id))["reserved"] == 3


async def test_commit_moves_held_stock_out_of_on_hand_once(inventory: Any) -> None:
    product_id = await inventory.stock(10)
    reservation_id = str(uuid.uuid4())
    (await inventory.reserve({product_id: 3}, reservation_id=reservation_id)).ok(201)
    assert await inventory.level(product_id) == {"product_id": product_id, "on_hand": 10, "reserved": 3, "available": 7}

    committed = (await inventory.commit(reservation_id)).ok(200)
    assert committed["status"] == "committed" and committed["committed_at"] is not None
    assert await inventory.level(product_id) == {"product_id": product_id, "on_hand": 7, "reserved": 0, "available": 7}

    assert (await inventory.commit(reservation_id)).ok(200) == committed
    assert (await inventory.level(product_id))["on_hand"] == 7
    (await inventory.release(reservation_id)).problem(409)
    assert (await inventory.reservation(reservation_id)).ok(200)["status"] == "committed"

    sale = (await inventory.admin.call("GET", f"/v1/inventory/{product_id}/movements")).ok(200)["items"][0]
    assert (sale["reason"], sale["delta"], sale["on_hand_after"], sale["reservation_id"]) == (
        "sale",
        -3,
        7,
        reservation_id,
    )


async def test_release_gives_stock_back_once_and_cannot_be_committed(inventory: Any) -> None:
    product_id = await inventory.stock(10)
    reservation_id = str(uuid.uuid4())
    (await inventory.reserve({product_id: 4}, reservation_id=reservation_id)).ok(201)

    released = (await inventory.release(reservation_id)).ok(200)
    assert released["status"] == "released" and released["closed_at"] is not None
    assert (await inventory.level(product_id))["available"] == 10
    assert (await inventory.release(reservation_id)).ok(200) == released
    assert (await inventory.level(product_id))["reserved"] == 0

    problem = (await inventory.commit(reservation_id)).problem(409)
    assert problem["reservation_status"] == "released"
    assert (await inventory.level(product_id))["on_hand"] == 10


async def test_multi_line_commit_and_release(inventory: Any) -> None:
    a, b = await inventory.stock(6), await inventory.stock(6)
    kept, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    (await inventory.reserve({a: 1, b: 2}, reservation_id=kept)).ok(201)
    (await inventory.reserve({a: 3, b: 3}, reservation_id=dropped)).ok(201)
    (await inventory.reserve({a: 3})).problem(409)

    (await inventory.commit(kept)).ok(200)
    (await inventory.release(dropped)).ok(200)
    assert [await inventory.level(p) for p in (a, b)] == [
        {"product_id": a, "on_hand": 5, "reserved": 0, "available": 5},
        {"product_id": b, "on_hand": 4, "reserved": 0, "available": 4},
    ]


async def test_every_stock_change_is_announced_with_a_rising_revision(inventory: Any, stock_events: Any) -> None:
    product_id = await inventory.stock(10)
    await inventory.admin.call(
        "POST", f"/v1/inventory/{product_id}/adjustments", json={"delta": 2, "reason": "restock"}
    )
    reservation_id = str(uuid.uuid4())
    (await inventory.reserve({product_id: 5}, reservation_id=reservation_id)).ok(201)
    (await inventory.commit(reservation_id)).ok(200)
    (await inventory.reserve({product_id: 100})).problem(409)  # rejected: announces nothing

    events = await stock_events(product_id)
    fields = ("revision", "reason", "on_hand", "reserved", "available", "available_changed")
    assert [tuple(e[f] for f in fields) for e in events] == [
        (1, "stock_count", 10, 0, 10, True),
        (2, "restock", 12, 0, 12, True),
        (3, "reserved", 12, 5, 7, True),
        (4, "sale", 7, 0, 7, False),  # search's subscription filters this one out
    ]


async def test_a_hold_that_expires_while_another_is_committed_is_announced_as_a_change_of_available(
    inventory: Any, stock_events: Any
) -> None:
    """The expiry found while committing frees units (available moves); the sale itself does not."""
    product_id = await inventory.stock(10)
    stale, kept = str(uuid.uuid4()), str(uuid.uuid4())
    (await inventory.reserve({product_id: 2}, ttl=1, reservation_id=stale)).ok(201)
    (await inventory.reserve({product_id: 3}, reservation_id=kept)).ok(201)
    await asyncio.sleep(1.1)
    (await inventory.commit(kept)).ok(200)

    events = await stock_events(product_id)
    fields = ("reason", "on_hand", "reserved", "available", "available_changed")
    assert [tuple(e[f] for f in fields) for e in events][-2:] == [
        ("reservation_expired", 10, 3, 7, True),
        ("sale", 7, 0, 7, False),
    ]


async def test_pinning_is_idempotent_and_a_pinned_hold_still_settles(inventory: Any) -> None:
    product_id = await inventory.stock(10)
    reservation_id = str(uuid.uuid4())
    created = (await inventory.reserve({product_id: 3}, reservation_id=reservation_id)).ok(201)
    assert (created["pinned"], created["expires_at"] is not None) == (False, True)

    pinned = (await inventory.pin(reservation_id)).ok(200)
    assert (pinned["status"], pinned["pinned"], pinned["expires_at"]) == ("held", True, None)
    assert (await inventory.pin(reservation_id)).ok(200) == pinned
    assert (await inventory.reservation(reservation_id)).ok(200) == pinned
    assert (await inventory.level(product_id))["reserved"] == 3

    (await inventory.commit(reservation_id)).ok(200)
    again = (await inventory.pin(reservation_id)).ok(200)
    assert (again["status"], again["pinned"]) == ("committed", True)
    assert await inventory.level(product_id) == {"product_id": product_id, "on_hand": 7, "reserved": 0, "available": 7}

    # A pinned hold that is not sold is released as any other.
    other = str(uuid.uuid4())
    (await inventory.reserve({product_id: 2}, reservation_id=other)).ok(201)
    (await inventory.pin(other)).ok(200)
    assert (await inventory.release(other)).ok(200)["status"] == "released"
    assert (await inventory.level(product_id))["reserved"] == 0


async def test_a_hold_that_no_longer_holds_cannot_be_pinned(inventory: Any, inventory_database: Any) -> None:
    product_id = await inventory.stock(10)
    released, expired = str(uuid.uuid4()), str(uuid.uuid4())
    (await inventory.reserve({product_id: 2}, reservation_id=released)).ok(201)
    (await inventory.release(released)).ok(200)
    (await inventory.reserve({product_id: 2}, ttl=1, reservation_id=expired)).ok(201)
    await asyncio.sleep(1.2)
    await sweep_once(inventory_database, 1000)

    for reservation_id, status in ((released, "released"), (expired, "expired")):
        problem = (await inventory.pin(reservation_id)).problem(409)
        assert problem["type"].endswith("/reservation-not-held")
        assert problem["reservation_status"] == status
        after = (await inventory.reservation(reservation_id)).ok(200)
        assert (after["status"], after["pinned"]) == (status, False)
    assert (await inventory.level(product_id))["reserved"] == 0
    (await inventory.pin(str(uuid.uuid4()))).problem(404)
    # Nor is a closed id reserved again: its caller has given up on it.
    assert (await inventory.reserve({product_id: 2}, reservation_id=expired)).problem(409)["type"].endswith(
        "/reservation-closed"
    )
    assert (await inventory.level(product_id))["reserved"] == 0


async def test_a_release_before_its_reserve_refuses_the_reserve(inventory: Any) -> None:
    """The checkout gave up on a reserve that timed out and released its id; the reserve request
    arriving afterwards must not hold stock nobody will release."""
    product_id = await inventory.stock(5)
    reservation_id = str(uuid.uuid4())
    released = (await inventory.release(reservation_id)).ok(200)
    assert (released["status"], released["lines"], released["closed_at"] is not None) == ("released", [], True)
    assert (await inventory.release(reservation_id)).ok(200) == released

    problem = (await inventory.reserve({product_id: 2}, reservation_id=reservation_id)).problem(409)
    assert problem["type"].endswith("/reservation-closed")
    assert problem["reservation_status"] == "released"
    assert (await inventory.level(product_id))["reserved"] == 0
    assert (await inventory.reservation(reservation_id)).ok(200) == released
    (await inventory.commit(reservation_id)).problem(409)
    (await inventory.pin(reservation_id)).problem(409)


async def test_a_release_waits_for_a_reserve_still_in_flight_and_releases_its_hold(
    inventory: Any, inventory_database: Any
) -> None:
    """The reserve has claimed the id but not committed (it waits on stock locks): the release
    waits for it, then gives its hold back."""
    product_id = await inventory.stock(5)
    reservation_id = uuid.uuid4()
    async with inventory_database.transaction() as conn:
        await ReservationService(conn).reserve(reservation_id, {uuid.UUID(product_id): 2}, 60)
        release = asyncio.create_task(inventory.release(str(reservation_id)))
        await asyncio.sleep(0.5)
        assert not release.done()
    released = (await release).ok(200)
    assert (released["status"], released["lines"]) == ("released", [{"product_id": product_id, "quantity": 2}])
    assert (await inventory.level(product_id))["reserved"] == 0
