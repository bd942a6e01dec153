"""The order service's payment client against the running payment service: what each answer of a
charge means to checkout."""

import uuid
from collections.abc import AsyncIterator

import pytest

from commerce_platform.devstack.launcher import Stack
from commerce_platform.errors import Conflict
from commerce_platform.http_client import ServiceClient, new_session
from order_service.clients import Payment, Payments


@pytest.fixture
async def payments(stack: Stack) -> AsyncIterator[Payments]:
    session = new_session(timeout_seconds=10)
    yield Payments(ServiceClient(session, service="payment", base_url=stack.service_url("payment")))
    await session.close()


async def test_a_charge_repeated_after_its_payment_was_voided_is_a_final_409_not_a_retry(payments: Payments) -> None:
    """Recovery voided the order's payment, then the charge is repeated with the same key: the shopper
    must hear that this checkout is over, not a 503 telling them to retry forever."""
    order_id = uuid.uuid4()

    async def charge() -> object:
        return await payments.charge(
            order_id=order_id, user_id=uuid.UUID(int=7), amount_cents=1500, currency="EUR",
            payment_method="pm_card_visa",
        )

    paid = await charge()
    assert isinstance(paid, Payment) and paid.status == "succeeded"
    await payments.void(paid.id)

    with pytest.raises(Conflict) as refused:
        await charge()

    assert (refused.value.status_code, refused.value.problem_type) == (409, "payment-voided")
    [voided] = await payments.for_order(order_id)
    assert (voided.id, voided.status) == (paid.id, "refunded")
