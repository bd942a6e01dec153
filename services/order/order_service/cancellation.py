"""Cancelling a confirmed order: refund first, then record the cancellation with its OrderCancelled
outbox row; inventory consumes that event to release or restock."""

from __future__ import annotations

from order_service.checkout import Checkout
from order_service.events import order_cancelled
from order_service.repositories import OrderRecord
from order_service.status import OrderStatus, ensure_transition


async def cancel_order(checkout: Checkout, order: OrderRecord, reason: str) -> OrderRecord:
    # Check before refunding: a cancelled or failed order must not be refunded again.
    ensure_transition(order.status, OrderStatus.CANCELLED)
    if order.payment_id is not None:
        # Idempotent on the payment side, so a retry after a failure here is safe.
        await checkout.deps.payments.refund(order.payment_id, reason=reason)
    return await checkout.book.cancel(order, event=order_cancelled(order, reason), reason=reason)
