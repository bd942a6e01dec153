"""Cancelling a confirmed order: record the cancellation with its OrderCancelled outbox row and a
refund due, in one transaction, then refund; inventory consumes the event to release or restock.

The cancellation is written before the money moves, so no crash can leave a confirmed order whose
payment was given back: a refund that a crash or a payment outage left undone is made by the
recovery task (`refund_due`), and the payment service refunds once per payment however often asked.
A refund it refuses for good is recorded (`refund_failure`) and left to a person, not retried.
"""

from __future__ import annotations

import dataclasses

import structlog

from commerce_platform.errors import DependencyUnavailable
from order_service.checkout import Checkout
from order_service.clients import PaymentRefused
from order_service.events import order_cancelled
from order_service.repositories import OrderRecord
from order_service.status import OrderStatus, ensure_transition

log = structlog.get_logger("order.cancellation")


async def cancel_order(checkout: Checkout, order: OrderRecord, reason: str) -> OrderRecord:
    ensure_transition(order.status, OrderStatus.CANCELLED)
    cancelled = await checkout.book.cancel(
        order, event=order_cancelled(order, reason), reason=reason, refund_due=order.payment_id is not None
    )
    try:
        return await make_due_refund(checkout, cancelled, reason)
    except DependencyUnavailable:
        # The cancellation stands (the order shows `refund_pending`); recovery refunds once the
        # payment service answers again.
        log.warning("refund deferred to recovery", order_id=str(order.id))
        return cancelled


async def make_due_refund(checkout: Checkout, order: OrderRecord, reason: str) -> OrderRecord:
    """Refund a cancelled order's payment if that is still due; the order as it is after.
    A refund the payment service refuses for good (a 4xx) is final: it is recorded on the order
    (`refund_failure`, no longer due) for someone to settle by hand, not retried for ever."""
    if not order.refund_due or order.payment_id is None:
        return order
    try:
        await checkout.deps.payments.refund(order.payment_id, reason=reason)
    except PaymentRefused as refused:
        log.warning("refund refused for good; settle by hand", order_id=str(order.id), status=refused.status,
                    detail=refused.detail)
        await checkout.book.record_refund_failure(order.id, str(refused))
        return dataclasses.replace(order, refund_due=False, refund_failure=str(refused))
    await checkout.book.clear_refund_due(order.id)
    return dataclasses.replace(order, refund_due=False)
