"""Refunds and voids as the order service's cancellations and compensations use them."""

from __future__ import annotations

import uuid
from typing import Any


async def _paid(internal: Any, charge_body: Any, amount_cents: int = 1000) -> dict[str, Any]:
    payment: dict[str, Any] = (
        await internal.call("POST", "/internal/v1/payments", json=charge_body(amount_cents=amount_cents))
    ).ok(201)
    return payment


async def _charge_at_emulator(stripe_emulator: Any, payment: dict[str, Any]) -> dict[str, Any]:
    intent = (await stripe_emulator.v1.payment_intents.retrieve_async(payment["provider_payment_id"])).to_dict()
    latest = intent["latest_charge"]
    if isinstance(latest, str):  # real Stripe answers an id; the emulator the object itself
        latest = (await stripe_emulator.v1.charges.retrieve_async(latest)).to_dict()
    charge: dict[str, Any] = latest
    return charge


async def test_a_full_refund_refunds_everything_once(
    internal: Any, charge_body: Any, stripe_emulator: Any, history: Any
) -> None:
    payment = await _paid(internal, charge_body, 1000)
    path = f"/internal/v1/payments/{payment['id']}/refund"

    refunded = (await internal.call("POST", path, json={"reason": "order cancelled"})).ok(200)
    again = (await internal.call("POST", path, json={"reason": "order cancelled"})).ok(200)

    assert refunded["status"] == "refunded"
    assert refunded["amount_refunded_cents"] == 1000
    [refund] = refunded["refunds"]
    assert (refund["amount_cents"], refund["reason"], refund["source"]) == (1000, "order cancelled", "sync")
    assert refund["provider_refund_id"].startswith("re_")
    assert again == refunded
    assert (await _charge_at_emulator(stripe_emulator, payment))["amount_refunded"] == 1000
    assert [step[1] for step in await history(payment["id"])] == ["pending", "succeeded", "refunded"]


async def test_a_refund_without_a_body_refunds_the_rest(internal: Any, charge_body: Any) -> None:
    payment = await _paid(internal, charge_body, 700)

    refunded = (await internal.call("POST", f"/internal/v1/payments/{payment['id']}/refund")).ok(200)

    assert (refunded["status"], refunded["amount_refunded_cents"]) == ("refunded", 700)


async def test_partial_refunds_add_up_and_each_applies_once(
    internal: Any, charge_body: Any, stripe_emulator: Any, history: Any
) -> None:
    payment = await _paid(internal, charge_body, 1000)
    path = f"/internal/v1/payments/{payment['id']}/refund"

    first = (await internal.call("POST", path, json={"amount_cents": 300})).ok(200)
    repeated = (await internal.call("POST", path, json={"amount_cents": 300})).ok(200)
    second = (await internal.call("POST", path, json={"amount_cents": 300, "idempotency_key": "second-300"})).ok(200)

    assert (first["status"], first["amount_refunded_cents"]) == ("partially_refunded", 300)
    assert repeated == first
    assert (second["status"], second["amount_refunded_cents"]) == ("partially_refunded", 600)
    assert [r["amount_cents"] for r in second["refunds"]] == [300, 300]
    reused = {"amount_cents": 100, "idempotency_key": "second-300"}
    assert (await internal.call("POST", path, json=reused)).problem(422)["payment_id"] == payment["id"]

    too_much = (await internal.call("POST", path, json={"amount_cents": 401})).problem(409)
    assert too_much["refundable_cents"] == 400

    rest = (await internal.call("POST", path, json={})).ok(200)
    assert (rest["status"], rest["amount_refunded_cents"]) == ("refunded", 1000)
    assert [r["amount_cents"] for r in rest["refunds"]] == [300, 300, 400]
    assert (await _charge_at_emulator(stripe_emulator, payment))["amount_refunded"] == 1000
    # The second partial refund changed the amount, not the status: one history step each.
    assert [step[1] for step in await history(payment["id"])] == [
        "pending", "succeeded", "partially_refunded", "refunded"
    ]
    (await internal.call("POST", path, json={"amount_cents": 1, "idempotency_key": "one-more"})).problem(409)


async def test_a_declined_or_unknown_payment_cannot_be_refunded(internal: Any, charge_body: Any) -> None:
    body = charge_body(payment_method="pm_card_chargeCustomerFail")
    declined = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)

    refund = f"/internal/v1/payments/{declined['payment_id']}/refund"
    problem = (await internal.call("POST", refund, json={})).problem(409)
    assert problem["payment_status"] == "failed"
    unknown = "0190a0a0-0000-7000-8000-000000000000"
    (await internal.call("POST", f"/internal/v1/payments/{unknown}/refund", json={})).problem(404)
    (await internal.call("POST", f"/internal/v1/payments/{unknown}/void")).problem(404)


async def test_bad_refund_bodies_are_400(internal: Any, charge_body: Any) -> None:
    payment = await _paid(internal, charge_body)
    path = f"/internal/v1/payments/{payment['id']}/refund"

    for body in ({"amount_cents": 0}, {"amount_cents": -5}, {"amount_cents": 1.5}, {"reason": ""}, {"why": "x"}):
        (await internal.call("POST", path, json=body)).problem(400)
    assert (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)["status"] == "succeeded"


async def test_voiding_a_succeeded_payment_refunds_it_once(
    internal: Any, charge_body: Any, stripe_emulator: Any
) -> None:
    payment = await _paid(internal, charge_body, 1500)
    path = f"/internal/v1/payments/{payment['id']}/void"

    voided = (await internal.call("POST", path)).ok(200)
    again = (await internal.call("POST", path)).ok(200)

    assert (voided["status"], voided["amount_refunded_cents"], len(voided["refunds"])) == ("refunded", 1500, 1)
    assert again == voided
    assert (await _charge_at_emulator(stripe_emulator, payment))["amount_refunded"] == 1500


async def test_voiding_a_partially_refunded_payment_refunds_the_rest(internal: Any, charge_body: Any) -> None:
    payment = await _paid(internal, charge_body, 1000)
    await internal.call("POST", f"/internal/v1/payments/{payment['id']}/refund", json={"amount_cents": 250})

    voided = (await internal.call("POST", f"/internal/v1/payments/{payment['id']}/void")).ok(200)

    assert (voided["status"], [r["amount_cents"] for r in voided["refunds"]]) == ("refunded", [250, 750])


async def test_voiding_a_declined_payment_cancels_it(internal: Any, charge_body: Any, history: Any) -> None:
    body = charge_body(payment_method="pm_card_chargeCustomerFail")
    declined = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)
    path = f"/internal/v1/payments/{declined['payment_id']}/void"

    voided = (await internal.call("POST", path)).ok(200)
    (await internal.call("POST", path)).ok(200)

    assert voided["status"] == "canceled"
    assert voided["failure_code"] == "card_declined"
    assert [step[1] for step in await history(declined["payment_id"])] == ["pending", "failed", "canceled"]


async def test_voiding_a_pending_payment_whose_charge_succeeded_meanwhile_refunds_it(
    stranded_payment: Any, internal: Any, stripe_emulator: Any, payments_db: Any, history: Any
) -> None:
    payment = await stranded_payment(amount_cents=1200)
    real = await stripe_emulator.v1.payment_intents.create_async(
        {"amount": 1200, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    # The provider had answered "processing" (the id is known); the intent has succeeded since, and
    # its webhook is not applied yet.
    await payments_db.execute(
        "UPDATE payments.payment SET provider_payment_id = $1 WHERE id = $2", real.id, uuid.UUID(payment["id"])
    )

    voided = (await internal.call("POST", f"/internal/v1/payments/{payment['id']}/void")).ok(200)

    assert (voided["status"], voided["amount_refunded_cents"], len(voided["refunds"])) == ("refunded", 1200, 1)
    charge = (await stripe_emulator.v1.payment_intents.retrieve_async(real.id)).to_dict()["latest_charge"]
    assert charge["amount_refunded"] == 1200
    assert [step[1:] for step in await history(payment["id"])] == [
        ("pending", "sync"), ("succeeded", "sync"), ("refunded", "sync")
    ]
