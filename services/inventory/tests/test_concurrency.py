"""Concurrent checkouts: no overselling, no deadlocks, and expired holds come back to stock."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

# Long enough that no short hold can expire while the burst is still running (asserted below).
SHORT_TTL = 8


async def test_100_concurrent_single_unit_reservations_against_stock_10(
    inventory: Any, public: Any, inventory_db: Any, eventually: Any
) -> None:
    product_id = await inventory.stock(10)
    # Half the holds would expire in seconds, half would last; both kinds must end at zero.
    attempts = [(str(uuid.uuid4()), SHORT_TTL if i % 2 else 900) for i in range(100)]
    observed: list[dict[str, Any]] = []
    burst_done = asyncio.Event()

    async def watch() -> None:
        while not burst_done.is_set():
            observed.append((await public.call("GET", f"/v1/inventory/{product_id}")).ok(200))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    replies = await asyncio.gather(
        *(inventory.reserve({product_id: 1}, ttl=ttl, reservation_id=rid) for rid, ttl in attempts)
    )
    burst_seconds = time.monotonic() - started
    burst_done.set()
    await watcher
    # The expiry test below is only sound if no short hold expired during the burst itself.
    assert burst_seconds < SHORT_TTL, burst_seconds

    statuses = [r.status for r in replies]
    assert statuses.count(201) == 10 and statuses.count(409) == 90, statuses
    for reply in replies:
        if reply.status == 409:
            assert reply.body["short_lines"] == [{"product_id": product_id, "requested": 1, "available": 0}]
    assert observed, "the watcher saw no level during the burst"
    assert all(0 <= level["available"] <= 10 and level["reserved"] <= level["on_hand"] for level in observed)
    assert await inventory.level(product_id) == {
        "product_id": product_id,
        "on_hand": 10,
        "reserved": 10,
        "available": 0,
    }

    won = [(rid, ttl) for (rid, ttl), reply in zip(attempts, replies, strict=True) if reply.status == 201]
    lasting = [rid for rid, ttl in won if ttl == 900]
    expiring = [rid for rid, ttl in won if ttl == SHORT_TTL]
    await asyncio.gather(*(inventory.release(rid) for rid in lasting))
    assert (await inventory.level(product_id))["reserved"] == len(expiring)

    # The API reports the short holds expired the moment their time is up...
    await eventually(
        lambda: asyncio.gather(*(inventory.reservation(rid) for rid in expiring)),
        lambda replies: all(r.ok(200)["status"] == "expired" for r in replies),
        timeout=SHORT_TTL + 10,
    )
    assert await inventory.level(product_id) == {
        "product_id": product_id,
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
    }
    # ...and the sweeper, with nobody else touching the product, marks the rows and frees the units.
    expiring_ids = [uuid.UUID(rid) for rid in expiring]
    stored = await eventually(
        lambda: inventory_db.fetchrow(
            """
            SELECT s.on_hand, s.reserved,
                   (SELECT count(*) FROM reservation WHERE id = ANY($2::uuid[]) AND status = 'expired') AS swept
            FROM stock_item s WHERE s.product_id = $1
            """,
            uuid.UUID(product_id),
            expiring_ids,
        ),
        lambda row: row["swept"] == len(expiring),
        timeout=10,
    )
    assert (stored["on_hand"], stored["reserved"]) == (10, 0)
    for rid in expiring:
        (await inventory.commit(rid)).problem(409)


async def test_multi_line_reservations_in_opposite_orders_never_deadlock(inventory: Any, stack: Any) -> None:
    products = [await inventory.stock(1000) for _ in range(5)]
    rng = random.Random(7)
    orders: list[list[str]] = []
    for i in range(60):
        chosen = rng.sample(products, k=rng.randint(2, 5))
        orders.append(chosen if i % 2 else list(reversed(chosen)))

    replies = await asyncio.gather(*(inventory.reserve([(p, 1) for p in lines]) for lines in orders))

    # Postgres resolves a deadlock by aborting a victim, which would surface here as a 500.
    assert [r.status for r in replies] == [201] * len(orders), [r.body for r in replies if r.status != 201]
    for product_id in products:
        expected = sum(product_id in lines for lines in orders)
        assert (await inventory.level(product_id))["reserved"] == expected

    # Settling them concurrently, in any order, is just as safe.
    ids = [r.body["reservation_id"] for r in replies]
    settled = await asyncio.gather(
        *(inventory.commit(rid) if i % 2 else inventory.release(rid) for i, rid in enumerate(ids))
    )
    assert [r.status for r in settled] == [200] * len(ids)
    for product_id in products:
        sold = sum(product_id in lines for i, lines in enumerate(orders) if i % 2)
        assert await inventory.level(product_id) == {
            "product_id": product_id,
            "on_hand": 1000 - sold,
            "reserved": 0,
            "available": 1000 - sold,
        }
    assert "deadlock" not in (stack.log_dir / "inventory.log").read_text().lower()


async def test_an_expired_hold_stops_counting_before_it_is_swept(inventory: Any) -> None:
    product_id = await inventory.stock(3)
    first = str(uuid.uuid4())
    (await inventory.reserve({product_id: 3}, ttl=1, reservation_id=first)).ok(201)
    (await inventory.reserve({product_id: 1})).problem(409)
    await asyncio.sleep(1.2)

    # Whether or not the sweeper got there yet, the expired hold no longer blocks anyone.
    second = (await inventory.reserve({product_id: 3})).ok(201)
    assert (await inventory.reservation(first)).ok(200)["status"] == "expired"
    assert await inventory.level(product_id) == {"product_id": product_id, "on_hand": 3, "reserved": 3, "available": 0}
    (await inventory.commit(first)).problem(409)
    (await inventory.commit(second["reservation_id"])).ok(200)
    assert (await inventory.level(product_id))["on_hand"] == 0
