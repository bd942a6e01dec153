"""Refunds retried after their answer was lost, against Stripe's idempotency (IdempotentStripe): one
refund at the provider is one refund in the ledger, whatever charge.refunded recorded meanwhile."""

from __future__ import annotations

from typing import Any


async def _paid(internal: Any, charge_body: Any, amount_cents: int) -> dict[str, Any]:
    payment: dict[str, Any] = (
        await internal.call("POST", "/internal/v1/payments", json=charge_body(amount_cents=amount_cents))
    ).ok(201)
    return payment


async def test_a_refund_whose_answer_was_lost_counts_once_after_its_webhook_and_the_retry(
    internal: Any, charge_body: Any, replaying_stripe: Any, service_via_replaying_stripe: Any,
    charge_at_emulator: Any, deliver: Any, make_event: Any,
) -> None:
    payment = await _paid(internal, charge_body, 1000)
    path = f"/internal/v1/payments/{payment['id']}/refund"
    replaying_stripe.lose_next_answer = True

    lost = await service_via_replaying_stripe.post(path, json={"amount_cents": 300})

    assert lost.status_code == 503, lost.text
    # Stripe made the refund; its charge.refunded (which, as on current API versions, does not list the
    # refunds) reaches us before the caller retries.
    charge = await charge_at_emulator(payment)
    assert charge["amount_refunded"] == 300
    applied = (await deliver(make_event("charge.refunded", {**charge, "refunds": None}))).ok(200)
    assert applied["outcome"] == "applied"
    retried = await service_via_replaying_stripe.post(path, json={"amount_cents": 300})
    assert retried.status_code == 200, retried.text
    assert (retried.json()["amount_refunded_cents"], len(retried.json()["refunds"])) == (300, 1)

    # The void then gives back exactly what is left, so the shopper gets all of it back.
    voided = await service_via_replaying_stripe.post(f"/internal/v1/payments/{payment['id']}/void")
    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["amount_refunded_cents"]) == ("refunded", 1000)
    assert (await charge_at_emulator(payment))["amount_refunded"] == 1000


async def test_a_replayed_refund_the_webhook_recorded_without_our_key_counts_once(
    internal: Any, charge_body: Any, replaying_stripe: Any, service_via_replaying_stripe: Any,
    charge_at_emulator: Any, deliver: Any, make_event: Any,
) -> None:
    """A refund made before refunds carried our key in their metadata: only its Stripe id links the
    webhook's row to the retry's replay."""
    payment = await _paid(internal, charge_body, 1000)
    path = f"/internal/v1/payments/{payment['id']}/refund"
    replaying_stripe.lose_next_answer = True
    assert (await service_via_replaying_stripe.post(path, json={"amount_cents": 300})).status_code == 503
    charge = await charge_at_emulator(payment)
    [refund] = charge["refunds"]["data"]
    keyless = {**refund, "metadata": {"payment_id": payment["id"]}}
    listed = {**charge["refunds"], "data": [keyless], "has_more": False}
    assert (await deliver(make_event("charge.refunded", {**charge, "refunds": listed}))).ok(200)["outcome"] == "applied"

    retried = await service_via_replaying_stripe.post(path, json={"amount_cents": 300})

    assert retried.status_code == 200, retried.text
    after = retried.json()
    assert (after["status"], after["amount_refunded_cents"]) == ("partially_refunded", 300)
    assert [(r["amount_cents"], r["provider_refund_id"]) for r in after["refunds"]] == [(300, refund["id"])]


async def test_a_void_retried_after_a_refund_elsewhere_asks_for_the_new_rest_under_a_new_key(
    internal: Any, charge_body: Any, replaying_stripe: Any, service_via_replaying_stripe: Any,
    stripe_emulator: Any, charge_at_emulator: Any, deliver: Any, make_event: Any,
) -> None:
    payment = await _paid(internal, charge_body, 1000)
    void = f"/internal/v1/payments/{payment['id']}/void"
    # Stripe fails the void's refund of 1000 and keeps that answer under its idempotency key.
    replaying_stripe.fail_next = True
    assert (await service_via_replaying_stripe.post(void)).status_code == 503
    # Meanwhile someone refunds 300 in the dashboard.
    await stripe_emulator.v1.refunds.create_async({"payment_intent": payment["provider_payment_id"], "amount": 300})
    refunded = make_event("charge.refunded", {**await charge_at_emulator(payment), "refunds": None})
    assert (await deliver(refunded)).ok(200)["outcome"] == "applied"

    retried = await service_via_replaying_stripe.post(void)

    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "refunded"
    assert [r["amount_cents"] for r in retried.json()["refunds"]] == [300, 700]
    assert (await charge_at_emulator(payment))["amount_refunded"] == 1000
