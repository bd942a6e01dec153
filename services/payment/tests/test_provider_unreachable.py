"""When Stripe cannot be reached: the provider says so, the API answers 503, and a retry recovers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from payment_service.providers import ChargeRequest, ProviderUnavailable
from payment_service.providers.stripe_provider import StripeProvider
from payment_service.settings import PaymentSettings

RETRIES = "stripe_max_network_retries"


async def test_the_provider_reports_an_unreachable_stripe_as_unavailable(unused_port: int) -> None:
    provider = StripeProvider("sk_test_unreachable", api_base=f"http://127.0.0.1:{unused_port}", max_network_retries=0)
    request = ChargeRequest(amount_cents=100, currency="EUR", payment_method="pm_card_visa", idempotency_key="k")
    try:
        started = time.perf_counter()
        with pytest.raises(ProviderUnavailable):
            await provider.charge(request)
        with pytest.raises(ProviderUnavailable):
            await provider.refund("pi_123", 100, idempotency_key="r", metadata={})
        with pytest.raises(ProviderUnavailable):
            await provider.cancel("pi_123", idempotency_key="c")
        assert time.perf_counter() - started < 2.0  # refused at once, no hang
    finally:
        await provider.close()


async def test_an_unanswering_stripe_times_out_as_unavailable() -> None:
    """A provider that accepts the connection and never answers costs at most the timeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = StripeProvider(
        "sk_test_slow", api_base=f"http://127.0.0.1:{port}", timeout_seconds=0.5, max_network_retries=0
    )
    try:
        started = time.perf_counter()
        with pytest.raises(ProviderUnavailable):
            await provider.charge(
                ChargeRequest(amount_cents=100, currency="EUR", payment_method="pm_card_visa", idempotency_key="k")
            )
        assert time.perf_counter() - started < 3.0
    finally:
        await provider.close()
        server.close()


async def test_a_silent_stripe_costs_one_budget_even_with_the_default_retries() -> None:
    """The timeout bounds the whole operation, the SDK's retries included: the caller, which gives up
    after 5 s, hears our 503 rather than its own timeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    [default_retries] = [f.default for f in msgspec.structs.fields(PaymentSettings) if f.name == RETRIES]
    assert default_retries > 0  # what production runs with, and what made a timeout cost twice
    provider = StripeProvider(
        "sk_test_slow", api_base=f"http://127.0.0.1:{port}", timeout_seconds=0.5, max_network_retries=default_retries
    )
    request = ChargeRequest(amount_cents=100, currency="EUR", payment_method="pm_card_visa", idempotency_key="k")
    try:
        for call in (provider.charge(request), provider.refund("pi_1", 100, idempotency_key="r", metadata={})):
            started = time.perf_counter()
            with pytest.raises(ProviderUnavailable):
                await call
            assert time.perf_counter() - started < 0.8
    finally:
        await provider.close()
        server.close()


async def test_an_unreachable_provider_is_503_and_leaves_the_payment_pending(
    cut_off_service: Any, internal: Any, charge_body: Any, history: Any
) -> None:
    body = charge_body()

    reply = await cut_off_service.post("/internal/v1/payments", json=body)

    assert reply.status_code == 503, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["type"].endswith("/dependency-unavailable")
    [payment] = (
        await internal.call("GET", "/internal/v1/payments", params={"idempotency_key": body["idempotency_key"]})
    ).ok(200)["items"]
    assert (payment["status"], payment["provider_payment_id"]) == ("pending", None)
    assert await history(payment["id"]) == [(None, "pending", "sync")]


async def test_a_retry_with_the_same_key_settles_a_payment_left_pending(
    stranded_payment: Any, internal: Any, intents_for: Any, history: Any
) -> None:
    stranded = await stranded_payment()

    settled = (await internal.call("POST", "/internal/v1/payments", json=stranded["request"])).ok(201)

    assert (settled["id"], settled["status"]) == (stranded["id"], "succeeded")
    assert len(await intents_for(settled["id"])) == 1
    assert await history(settled["id"]) == [(None, "pending", "sync"), ("pending", "succeeded", "sync")]


async def test_voiding_a_payment_left_pending_cancels_it(
    stranded_payment: Any, internal: Any, intents_for: Any
) -> None:
    stranded = await stranded_payment()

    voided = (await internal.call("POST", f"/internal/v1/payments/{stranded['id']}/void")).ok(200)

    assert voided["status"] == "canceled"
    # A charge repeated after the void finds the payment cancelled, charges nothing and says so.
    again = (await internal.call("POST", "/internal/v1/payments", json=stranded["request"])).problem(409)
    assert again["type"].endswith("/payment-voided")
    assert (again["payment_id"], again["payment_status"]) == (stranded["id"], "canceled")
    assert await intents_for(stranded["id"]) == []


async def test_refunds_and_voids_are_503_when_the_provider_is_unreachable(
    cut_off_service: Any, internal: Any, charge_body: Any
) -> None:
    payment = (await internal.call("POST", "/internal/v1/payments", json=charge_body())).ok(201)

    refund = await cut_off_service.post(f"/internal/v1/payments/{payment['id']}/refund", json={})
    void = await cut_off_service.post(f"/internal/v1/payments/{payment['id']}/void")

    assert (refund.status_code, void.status_code) == (503, 503), (refund.text, void.text)
    unchanged = (await internal.call("GET", f"/internal/v1/payments/{payment['id']}")).ok(200)
    assert (unchanged["status"], unchanged["refunds"]) == ("succeeded", [])
