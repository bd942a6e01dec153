"""Finishes what a crash or an outage left half-done: a `pending` order is confirmed if its payment
went through and its stock hold could be pinned (still held, now kept until the order settles),
otherwise refunded and released; a failed order whose payment outcome was unknown is refunded if
the charge did happen; a cancelled order whose refund a crash or an outage left undone is refunded."""

from __future__ import annotations

import asyncio

import structlog
from litestar import Litestar

from commerce_platform.errors import DependencyUnavailable
from order_service.cancellation import make_due_refund
from order_service.checkout import Checkout
from order_service.repositories import OrderRecord
from order_service.status import OrderStatus

log = structlog.get_logger("order.recovery")
STUCK_AFTER_SECONDS = 60
LEASE_SECONDS = 120
IDLE_SLEEP_SECONDS = 5.0


PAID = ("succeeded",)
UNSETTLED = ("succeeded", "partially_refunded", "pending")


async def recover_one(checkout: Checkout, order: OrderRecord) -> None:
    deps, book = checkout.deps, checkout.book
    if order.status == OrderStatus.CANCELLED:
        # Cancelled, but the refund was not made (a crash, or the payment service was down).
        await make_due_refund(checkout, order, "order cancelled")
        log.info("recovery refunded cancelled order", order_id=str(order.id))
        return
    payments = await deps.payments.for_order(order.id)
    if order.status == OrderStatus.FAILED:
        # The order failed while the payment's outcome was unknown: take back whatever went through.
        for payment in payments:
            if payment.status in UNSETTLED:
                await deps.payments.void(payment.id)
        await book.clear_failure_flag(order.id, "payment_outcome_unknown")
        log.info("recovered unknown payment outcome", order_id=str(order.id), payments=len(payments))
        return
    paid = next((p for p in payments if p.status in PAID), None)
    # Pinning checks and keeps the hold in one step: it cannot expire between the check and the
    # confirmation, nor before inventory consumes OrderCreated.
    if paid is not None and order.lines and await deps.inventory.pin(order.reservation_id):
        confirmed = await checkout.confirm_paid(order, paid.id, reason="completed by recovery")
        log.info("recovery confirmed order", order_id=str(order.id))
        await checkout.take_lines_out_of_cart(confirmed)
        return
    for payment in payments:
        if payment.status in UNSETTLED:
            await deps.payments.void(payment.id)
    await deps.inventory.release(order.reservation_id)
    await book.fail(
        order.id,
        status_code=503,
        failure={"detail": "checkout was interrupted and has been undone", "type": "checkout-interrupted"},
        reason="undone by recovery",
    )
    log.info("recovery undid order", order_id=str(order.id), voided=len(payments))


async def recovery_worker(app: Litestar) -> None:
    """Background worker: one stuck order at a time, leased so replicas never collide."""
    checkout: Checkout = app.state["checkout"]
    while True:
        try:
            order = await checkout.book.claim_for_recovery(
                stuck_after_seconds=STUCK_AFTER_SECONDS, lease_seconds=LEASE_SECONDS
            )
            if order is None:
                await asyncio.sleep(IDLE_SLEEP_SECONDS)
                continue
            await recover_one(checkout, order)
        except asyncio.CancelledError:
            raise
        except DependencyUnavailable as exc:
            log.warning("recovery waits for a dependency", error=exc.detail)
            await asyncio.sleep(IDLE_SLEEP_SECONDS)
        except Exception:
            log.exception("recovery step failed")
            await asyncio.sleep(IDLE_SLEEP_SECONDS)
