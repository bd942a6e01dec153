"""The local Stripe emulator lists objects of one type from its by-type index: the same answers as
localstripe's full scan, for every type, including a charge's refunds and after a flush."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from commerce_platform.devstack.launcher import LOCAL_STRIPE_KEY

pytestmark = pytest.mark.stack


async def _paid_intent(client: stripe.StripeClient, amount: int) -> Any:
    return await client.v1.payment_intents.create_async(
        {"amount": amount, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )


def _charge_id(intent: Any) -> str:
    latest = intent.to_dict()["latest_charge"]
    return str(latest if isinstance(latest, str) else latest["id"])


async def test_refunds_and_charges_are_listed_per_type_and_per_charge(stack: Any) -> None:
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        LOCAL_STRIPE_KEY, base_addresses={"api": stack.stripe_api_base}, http_client=http_client
    )
    try:
        intents = [await _paid_intent(client, amount) for amount in (1000, 2000, 3000)]
        charges = [_charge_id(i) for i in intents]
        await client.v1.refunds.create_async({"payment_intent": intents[1].id, "amount": 500})
        await client.v1.refunds.create_async({"payment_intent": intents[1].id, "amount": 250})
        await client.v1.refunds.create_async({"payment_intent": intents[2].id, "amount": 3000})

        refunded = {c: (await client.v1.charges.retrieve_async(c)).to_dict()["amount_refunded"] for c in charges}
        assert refunded == {charges[0]: 0, charges[1]: 750, charges[2]: 3000}
        listed = await client.v1.refunds.list_async({"charge": charges[1], "limit": 100})
        assert sorted(r["amount"] for r in listed.data) == [250, 500]
        every_charge = await client.v1.charges.list_async({"limit": 100})
        assert set(charges) <= {c["id"] for c in every_charge.data}
    finally:
        await http_client.close_async()
