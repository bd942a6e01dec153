"""Charging for an order as the order service does: success, decline, and what each leaves behind."""

from __future__ import annotations

from typing import Any

CONTRACT_FIELDS = {"id", "status", "provider_payment_id", "amount_cents", "currency", "order_id"}


async def test_a_visa_card_is_charged_and_recorded(
    internal: Any, charge_body: Any, intents_for: Any, history: Any
) -> None:
    body = charge_body(amount_cents=4321, currency="USD")

    payment = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)

    assert payment.keys() >= CONTRACT_FIELDS
    assert payment["status"] == "succeeded"
    assert payment["provider_payment_id"].startswith("pi_")
    assert (payment["amount_cents"], payment["currency"]) == (4321, "USD")
    assert (payment["order_id"], payment["user_id"]) == (body["order_id"], body["user_id"])
    assert payment["amount_refunded_cents"] == 0 and payment["refunds"] == []
    assert payment["failure_code"] is None
    assert [(h["from"], h["to"], h["source"]) for h in payment["history"]] == [
        (None, "pending", "sync"),
        ("pending", "succeeded", "sync"),
    ]
    assert await history(payment["id"]) == [(None, "pending", "sync"), ("pending", "succeeded", "sync")]

    intents = await intents_for(payment["id"])
    assert [(i["id"], i["status"], i["amount"], i["currency"]) for i in intents] == [
        (payment["provider_payment_id"], "succeeded", 4321, "usd")
    ]
    assert intents[0]["metadata"]["order_id"] == body["order_id"]

    read = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert read == payment


async def test_a_declined_card_is_402_and_stored_as_failed(
    internal: Any, charge_body: Any, history: Any, payments_db: Any
) -> None:
    body = charge_body(payment_method="pm_card_chargeCustomerFail")

    problem = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)

    assert problem["type"].endswith("/payment-declined")
    assert problem["decline_code"] == "card_declined"
    assert problem["payment_status"] == "failed"
    payment = (await internal.call("GET", f"/internal/v1/payments/{problem['payment_id']}")).ok(200)
    assert payment["status"] == "failed"
    assert payment["failure_code"] == "card_declined"
    assert await history(payment["id"]) == [(None, "pending", "sync"), ("pending", "failed", "sync")]
    row = await payments_db.fetchrow(
        "SELECT status, idempotency_key FROM payments.payment WHERE id = $1", payment["id"]
    )
    assert (row["status"], row["idempotency_key"]) == ("failed", body["idempotency_key"])


async def test_a_card_that_needs_3d_secure_is_declined_and_its_intent_cancelled(
    internal: Any, charge_body: Any, stripe_emulator: Any, intents_for: Any
) -> None:
    # A checkout charges server-side with no shopper in a browser, so authentication cannot happen.
    method = await stripe_emulator.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4000002760003184", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    body = charge_body(payment_method=method.id)

    problem = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)

    assert problem["decline_code"] == "authentication_required"
    [intent] = await intents_for(problem["payment_id"])
    assert intent["status"] == "canceled"


async def test_an_unknown_payment_method_is_declined(internal: Any, charge_body: Any) -> None:
    body = charge_body(payment_method="pm_card_doesNotExist")

    problem = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(402)

    assert problem["decline_code"] == "invalid_payment_method"


async def test_the_openapi_document_names_every_route(internal: Any) -> None:
    document = (await internal.call("GET", "/schema/openapi.json")).ok(200)
    operations = {
        op["operationId"] for path in document["paths"].values() for op in path.values() if isinstance(op, dict)
    }
    assert {
        "createPayment", "refundPayment", "voidPayment", "getPayment", "listPayments", "receiveStripeWebhook",
        "findPayments", "getPaymentInternal",
    } <= operations
