"""Stripe webhooks: signatures are checked, each event applies once, and a webhook never applies a
payment the synchronous answer already applied."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

WEBHOOK = "/v1/payments/webhooks/stripe"


def _intent(payment: dict[str, Any], intent_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A payment_intent object as Stripe sends it for one of our payments."""
    return {
        "id": intent_id or f"pi_test_{uuid.uuid4().hex[:14]}",
        "object": "payment_intent",
        "amount": payment["amount_cents"],
        "currency": payment["currency"].lower(),
        "status": "succeeded",
        "metadata": {"payment_id": payment["id"], "order_id": payment["order_id"]},
        **fields,
    }


async def _wait_for(probe: Any, *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_the_emulators_webhook_after_the_synchronous_answer_changes_nothing(
    internal: Any, charge_body: Any, processed_events: Any, history: Any
) -> None:
    """The real delivery: the emulator signs payment_intent.succeeded and posts it about a second later."""
    payment = (await internal.call("POST", "/internal/v1/payments", json=charge_body())).ok(201)

    events = await _wait_for(lambda: processed_events(payment["id"]))

    assert [(e["event_type"], e["outcome"]) for e in events] == [("payment_intent.succeeded", "unchanged")]
    assert await history(payment["id"]) == [(None, "pending", "sync"), ("pending", "succeeded", "sync")]


async def test_the_emulators_failure_webhook_after_a_decline_changes_nothing(
    internal: Any, charge_body: Any, processed_events: Any, history: Any
) -> None:
    body = charge_body(payment_method="pm_card_chargeCustomerFail")
    declined = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)

    events = await _wait_for(lambda: processed_events(declined["payment_id"]))

    assert [(e["event_type"], e["outcome"]) for e in events] == [("payment_intent.payment_failed", "unchanged")]
    assert await history(declined["payment_id"]) == [(None, "pending", "sync"), ("pending", "failed", "sync")]


async def test_a_signed_success_event_settles_a_pending_payment_once(
    stranded_payment: Any, internal: Any, deliver: Any, make_event: Any, history: Any, payments_db: Any
) -> None:
    payment = await stranded_payment()
    intent = _intent(payment)
    event = make_event("payment_intent.succeeded", intent)

    first = (await deliver(event)).ok(200)
    again = (await deliver(event)).ok(200)

    assert (first["outcome"], again["outcome"]) == ("applied", "unchanged")
    settled = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert (settled["status"], settled["provider_payment_id"]) == ("succeeded", intent["id"])
    assert await history(payment["id"]) == [(None, "pending", "sync"), ("pending", "succeeded", "webhook")]
    assert settled["history"][-1]["provider_event_id"] is not None
    # A synchronous retry of the same charge now finds it settled: no second charge.
    assert (await internal.call("POST", "/internal/v1/payments", json=payment["request"])).ok(201) == settled


async def test_concurrent_redeliveries_apply_once(
    stranded_payment: Any, deliver: Any, make_event: Any, history: Any
) -> None:
    payment = await stranded_payment()
    event = make_event("payment_intent.succeeded", _intent(payment))

    replies = await asyncio.gather(*(deliver(event) for _ in range(6)))

    outcomes = sorted(reply.ok(200)["outcome"] for reply in replies)
    assert outcomes == ["applied"] + ["unchanged"] * 5
    assert [step[1] for step in await history(payment["id"])] == ["pending", "succeeded"]


async def test_a_second_success_event_for_a_settled_payment_changes_nothing(
    stranded_payment: Any, deliver: Any, make_event: Any, history: Any
) -> None:
    payment = await stranded_payment()
    intent = _intent(payment)

    first = (await deliver(make_event("payment_intent.succeeded", intent))).ok(200)
    other = (await deliver(make_event("payment_intent.succeeded", intent))).ok(200)

    assert (first["outcome"], other["outcome"]) == ("applied", "unchanged")
    assert [step[1] for step in await history(payment["id"])] == ["pending", "succeeded"]


async def test_a_failure_event_fails_a_pending_payment_and_a_late_success_cannot_flip_it(
    stranded_payment: Any, internal: Any, deliver: Any, make_event: Any, history: Any
) -> None:
    payment = await stranded_payment()
    error = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "Insufficient funds."}
    failed = _intent(payment, status="requires_payment_method", last_payment_error=error)

    applied = (await deliver(make_event("payment_intent.payment_failed", failed))).ok(200)
    late = (await deliver(make_event("payment_intent.succeeded", _intent(payment, failed["id"])))).ok(200)

    assert (applied["outcome"], late["outcome"]) == ("applied", "unchanged")
    after = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert (after["status"], after["failure_code"]) == ("failed", "insufficient_funds")
    assert await history(payment["id"]) == [(None, "pending", "sync"), ("pending", "failed", "webhook")]
    # The order service repeating the charge now gets the decline.
    problem = (await internal.call("POST", "/internal/v1/payments", json=payment["request"])).problem(402)
    assert problem["decline_code"] == "insufficient_funds"


async def test_a_charge_that_succeeds_after_its_payment_was_voided_is_refunded(
    stranded_payment: Any, internal: Any, deliver: Any, make_event: Any, stripe_emulator: Any, history: Any
) -> None:
    payment = await stranded_payment(amount_cents=1800)
    voided = (await internal.call("POST", f"/internal/v1/payments/{payment['id']}/void")).ok(200)
    assert voided["status"] == "canceled"
    # The charge went through at the provider after all (the answer was lost): a real intent there.
    real = await stripe_emulator.v1.payment_intents.create_async(
        {"amount": 1800, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )

    outcome = (await deliver(make_event("payment_intent.succeeded", _intent(payment, real.id)))).ok(200)

    assert outcome["outcome"] == "applied"
    after = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert (after["status"], after["amount_refunded_cents"]) == ("refunded", 1800)
    [refund] = after["refunds"]
    assert refund["source"] == "webhook" and refund["provider_refund_id"].startswith("re_")
    charge = (await stripe_emulator.v1.payment_intents.retrieve_async(real.id)).to_dict()["latest_charge"]
    assert charge["amount_refunded"] == 1800
    assert [step[1:] for step in await history(payment["id"])] == [
        ("pending", "sync"), ("canceled", "sync"), ("refunded", "webhook")
    ]


async def test_a_refund_made_at_the_provider_is_recorded_once(
    internal: Any, charge_body: Any, deliver: Any, make_event: Any, stripe_emulator: Any
) -> None:
    payment = (await internal.call("POST", "/internal/v1/payments", json=charge_body(amount_cents=1000))).ok(201)
    # Someone refunds 300 in the Stripe dashboard; Stripe then sends charge.refunded.
    await stripe_emulator.v1.refunds.create_async({"payment_intent": payment["provider_payment_id"], "amount": 300})
    charge = (await stripe_emulator.v1.payment_intents.retrieve_async(payment["provider_payment_id"])).to_dict()[
        "latest_charge"
    ]
    event = make_event("charge.refunded", {**charge, "refunds": None})

    first = (await deliver(event)).ok(200)
    again = (await deliver(event)).ok(200)

    assert (first["outcome"], again["outcome"]) == ("applied", "unchanged")
    after = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert (after["status"], after["amount_refunded_cents"]) == ("partially_refunded", 300)
    assert [(r["amount_cents"], r["source"]) for r in after["refunds"]] == [(300, "webhook")]

    # Our own refund of the rest, then Stripe's charge.refunded for it: recorded once, by us.
    rest = (await internal.call("POST", f"/internal/v1/payments/{payment['id']}/refund", json={})).ok(200)
    assert (rest["status"], rest["amount_refunded_cents"]) == ("refunded", 1000)
    echo = make_event("charge.refunded", {**charge, "amount_refunded": 1000, "refunded": True, "refunds": None})
    assert (await deliver(echo)).ok(200)["outcome"] == "unchanged"
    final = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert [r["amount_cents"] for r in final["refunds"]] == [300, 700]


async def test_a_refund_event_before_the_success_is_applied_is_refused_until_it_is(
    stranded_payment: Any, internal: Any, deliver: Any, make_event: Any, stripe_emulator: Any, payments_db: Any
) -> None:
    """charge.refunded for a payment still pending here (its success not applied yet) is answered 503
    and not recorded, so Stripe's redelivery applies it once the success is in."""
    payment = await stranded_payment(amount_cents=1000)
    real = await stripe_emulator.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    await stripe_emulator.v1.refunds.create_async({"payment_intent": real.id, "amount": 300})
    charge = (await stripe_emulator.v1.payment_intents.retrieve_async(real.id)).to_dict()["latest_charge"]
    event_id = f"evt_early_{uuid.uuid4().hex[:12]}"
    early = make_event("charge.refunded", {**charge, "metadata": {"payment_id": payment["id"]}}, event_id=event_id)

    refused = (await deliver(early)).problem(503)

    assert refused["type"].endswith("/dependency-unavailable")
    recorded = await payments_db.fetchval(
        "SELECT count(*) FROM payments.processed_webhook_event WHERE id = $1", event_id
    )
    assert recorded == 0
    succeeded = make_event("payment_intent.succeeded", _intent(payment, real.id))
    assert (await deliver(succeeded)).ok(200)["outcome"] == "applied"
    assert (await deliver(early)).ok(200)["outcome"] == "applied"
    after = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert (after["status"], after["amount_refunded_cents"]) == ("partially_refunded", 300)
    assert [(r["amount_cents"], r["source"]) for r in after["refunds"]] == [(300, "webhook")]


async def test_events_for_unknown_payments_or_types_are_acknowledged_and_ignored(
    deliver: Any, make_event: Any
) -> None:
    stranger = {"id": "pi_not_ours_123", "object": "payment_intent", "status": "succeeded", "metadata": {}}

    assert (await deliver(make_event("payment_intent.succeeded", stranger))).ok(200)["outcome"] == "ignored"
    customer = {"id": "cus_123", "object": "customer"}
    assert (await deliver(make_event("customer.created", customer))).ok(200)["outcome"] == "ignored"


async def test_stripe_reaches_the_webhook_through_the_gateway_with_the_body_intact(
    gateway: Any, stripe_signer: Any, make_event: Any
) -> None:
    """In AWS Stripe calls the ALB; the signature covers the exact bytes, so the hop must not touch them."""
    payload = make_event("customer.created", {"id": "cus_456", "object": "customer"})

    signed = {"Stripe-Signature": stripe_signer.header(payload)}

    reply = await gateway.call("POST", WEBHOOK, data=payload, headers=signed)

    assert reply.ok(200) == {"received": True, "outcome": "ignored"}


async def test_events_with_bad_signatures_are_400_and_change_nothing(
    stranded_payment: Any, public: Any, stripe_signer: Any, make_event: Any, internal: Any, payments_db: Any
) -> None:
    payment = await stranded_payment()
    event_id = f"evt_forged_{uuid.uuid4().hex[:12]}"
    payload = make_event("payment_intent.succeeded", _intent(payment), event_id=event_id)
    good = stripe_signer.header(payload)
    stale = stripe_signer.header(payload, timestamp=int(time.time()) - 3600)
    forged = stripe_signer.header(payload, secret="whsec_someone_else")

    attempts = [
        {},  # no signature at all
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": forged},
        {"Stripe-Signature": stale},
    ]
    for headers in attempts:
        (await public.call("POST", WEBHOOK, data=payload, headers=headers)).problem(400)
    tampered = payload.replace(b'"succeeded"', b'"succeeded" ', 1)
    (await public.call("POST", WEBHOOK, data=tampered, headers={"Stripe-Signature": good})).problem(400)
    not_json = b"definitely not json"
    signed = {"Stripe-Signature": stripe_signer.header(not_json)}
    (await public.call("POST", WEBHOOK, data=not_json, headers=signed)).problem(400)

    assert (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)["status"] == "pending"
    recorded = await payments_db.fetchval(
        "SELECT count(*) FROM payments.processed_webhook_event WHERE id = $1", event_id
    )
    assert recorded == 0
