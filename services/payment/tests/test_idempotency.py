"""One idempotency key, one payment, one charge: repeats, concurrent repeats, and a reused key."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any


async def test_the_same_key_twice_returns_the_same_payment_and_charges_once(
    internal: Any, charge_body: Any, intents_for: Any, history: Any
) -> None:
    body = charge_body()

    first = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)
    again = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)

    assert again == first
    assert len(await intents_for(first["id"])) == 1
    assert [step[1] for step in await history(first["id"])] == ["pending", "succeeded"]


async def test_ten_concurrent_requests_with_one_key_make_one_payment(
    internal: Any, charge_body: Any, intents_for: Any, history: Any, payments_db: Any
) -> None:
    body = charge_body()

    replies = await asyncio.gather(*(internal.call("POST", "/internal/v1/payments", json=body) for _ in range(10)))

    payments = [reply.ok(201) for reply in replies]
    assert {p["id"] for p in payments} == {payments[0]["id"]}
    assert {p["status"] for p in payments} == {"succeeded"}
    assert len(await intents_for(payments[0]["id"])) == 1
    assert [step[1] for step in await history(payments[0]["id"])] == ["pending", "succeeded"]
    rows = await payments_db.fetchval(
        "SELECT count(*) FROM payments.payment WHERE idempotency_key = $1", body["idempotency_key"]
    )
    assert rows == 1


async def test_a_declined_key_repeated_is_the_same_decline_without_a_second_attempt(
    internal: Any, charge_body: Any, intents_for: Any
) -> None:
    body = charge_body(payment_method="pm_card_chargeCustomerFail")

    first = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)
    again = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)

    assert again["payment_id"] == first["payment_id"]
    assert again["decline_code"] == first["decline_code"] == "card_declined"


async def test_concurrent_declines_with_one_key_try_the_card_once(
    internal: Any, charge_body: Any, payments_db: Any, history: Any
) -> None:
    body = charge_body(payment_method="pm_card_chargeCustomerFail")

    replies = await asyncio.gather(*(internal.call("POST", "/internal/v1/payments", json=body) for _ in range(5)))

    problems = [reply.problem(402) for reply in replies]
    assert len({p["payment_id"] for p in problems}) == 1
    assert [step[1] for step in await history(problems[0]["payment_id"])] == ["pending", "failed"]


async def test_a_key_reused_for_a_different_payment_is_422(internal: Any, charge_body: Any) -> None:
    body = charge_body()
    first = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)

    for change in ({"amount_cents": body["amount_cents"] + 1}, {"order_id": charge_body()["order_id"]},
                   {"currency": "USD"}, {"payment_method": "pm_card_chargeCustomerFail"}):
        problem = (await internal.call("POST", "/internal/v1/payments", json={**body, **change})).problem(422)
        assert problem["payment_id"] == first["id"]

    # The payment itself is untouched.
    assert (await internal.call("GET", f"/internal/v1/payments/{first['id']}")).ok(200) == first


async def test_payments_can_be_found_by_order_and_by_key(internal: Any, charge_body: Any) -> None:
    body = charge_body()
    payment = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)

    by_key = (
        await internal.call("GET", "/internal/v1/payments", params={"idempotency_key": body["idempotency_key"]})
    ).ok(200)
    by_order = (await internal.call("GET", "/internal/v1/payments", params={"order_id": body["order_id"]})).ok(200)

    assert by_key["items"] == by_order["items"] == [payment]
    assert by_key["total"] == by_order["total"] == 1
    nothing = (await internal.call("GET", "/internal/v1/payments", params={"idempotency_key": "never-used"})).ok(200)
    assert (nothing["items"], nothing["total"]) == ([], 0)


async def test_a_repeat_while_the_first_request_is_at_the_provider_answers_503_at_once(
    stranded_payment: Any, internal: Any, payments_db: Any
) -> None:
    """A retry must not hold a database connection for as long as the first attempt's provider call."""
    payment = await stranded_payment()

    # What the first request's transaction does for the length of its provider call: hold the lock.
    async with payments_db.transaction():
        await payments_db.execute("SELECT 1 FROM payments.payment WHERE id = $1 FOR UPDATE", uuid.UUID(payment["id"]))
        started = time.monotonic()
        repeat = await asyncio.wait_for(internal.call("POST", "/internal/v1/payments", json=payment["request"]), 5)
        waited = time.monotonic() - started

    problem = repeat.problem(503)
    assert problem["type"].endswith("/charge-in-progress")
    assert repeat.headers.get("retry-after") == "1"
    assert waited < 2.5
    # Once the first request is done, the same key goes through.
    settled = (await internal.call("POST", "/internal/v1/payments", json=payment["request"])).ok(201)
    assert (settled["id"], settled["status"]) == (payment["id"], "succeeded")


async def test_a_charge_repeated_after_its_payment_was_refunded_is_409_and_charges_nothing(
    internal: Any, charge_body: Any, intents_for: Any
) -> None:
    body = charge_body()
    paid = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)
    (await internal.call("POST", f"/internal/v1/payments/{paid['id']}/void")).ok(200)

    problem = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(409)

    assert problem["type"].endswith("/payment-voided")
    assert (problem["payment_id"], problem["payment_status"]) == (paid["id"], "refunded")
    assert len(await intents_for(paid["id"])) == 1
