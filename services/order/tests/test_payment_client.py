"""The order service's payment client against the running payment service: what each answer of a
charge, a refund or a void means to checkout, cancellation and recovery."""

import uuid
from collections.abc import AsyncIterator

import pytest

from commerce_platform.devstack.launcher import Stack
from commerce_platform.errors import Conflict, DependencyUnavailable
from commerce_platform.http_client import ServiceClient, new_session
from order_service.clients import Declined, Payment, PaymentRefused, Payments


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


async def test_a_refund_or_void_refused_for_good_is_final_and_an_unreachable_service_is_not(payments: Payments) -> None:
    """A 4xx from the payment service means asking again cannot help (PaymentRefused); no answer at
    all means retry later (DependencyUnavailable)."""
    order_id = uuid.uuid4()
    declined = await payments.charge(
        order_id=order_id, user_id=uuid.UUID(int=7), amount_cents=1500, currency="EUR",
        payment_method="pm_card_chargeCustomerFail",
    )
    assert isinstance(declined, Declined)
    [failed] = await payments.for_order(order_id)

    with pytest.raises(PaymentRefused) as not_refundable:
        await payments.refund(failed.id, reason="test")
    assert (not_refundable.value.payment_id, not_refundable.value.status) == (failed.id, 409)
    assert "cannot be refunded" in not_refundable.value.detail
    unknown = uuid.uuid4()
    with pytest.raises(PaymentRefused) as not_found:
        await payments.void(unknown)
    assert (not_found.value.payment_id, not_found.value.status) == (unknown, 404)

    session = new_session(timeout_seconds=2)
    try:
        unreachable = Payments(ServiceClient(session, service="payment", base_url="http://127.0.0.1:9"))
        with pytest.raises(DependencyUnavailable):
            await unreachable.refund(failed.id, reason="test")
    finally:
        await session.close()
