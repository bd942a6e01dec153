"""Finishes what a crash or an outage left half-done: a `pending` order is confirmed if its payment
went through and its stock hold could be pinned (still held, now kept until the order settles),
otherwise fenced out of `pending` and then refunded and released (never the other way round: a slow
checkout may still confirm it until the fence); a failed order whose compensation is owed, or whose
payment outcome was unknown, gets its hold and any money that went through back; a cancelled order
whose refund a crash or an outage left undone is refunded. A refund the payment service refuses for
good is recorded for someone to settle by hand (`refund_failure`), not retried.

A charge may land after its order was undone: the checkout died (or gave up) while its charge was in
flight, and the payment appears or succeeds at the payment service only after the payments were
listed and voided. So an order undone without knowing its payment's outcome keeps
`payment_outcome_unknown` (recovery's fence always sets it: recovery never knows whether a charge is
still on its way), and a later pass, at least STUCK_AFTER_SECONDS after the fence, lists its payments
again, voids what went through or is pending, and only then clears the flag."""

from __future__ import annotations

import asyncio

import structlog
from litestar import Litestar

from commerce_platform.errors import Conflict, DependencyUnavailable
from order_service.cancellation import make_due_refund
from order_service.checkout import Checkout
from order_service.compensation import compensate
from order_service.repositories import OrderRecord
from order_service.status import OrderStatus

log = structlog.get_logger("order.recovery")
# Also the grace before an undone order's payments are listed a second time (`updated_at` moves at
# the fence): far longer than any charge can still be running, the payment service's provider budget
# (stripe_timeout_seconds, 4 s) plus its in-flight wait (1 s) and the caller's call budget (5 s).
STUCK_AFTER_SECONDS = 60
LEASE_SECONDS = 120
IDLE_SLEEP_SECONDS = 5.0


PAID = ("succeeded",)
# The checkout recovery replaces may have a charge still in flight, so the flag is always set and a
# later pass re-checks the payments (it never reaches the client: `Checkout._replay` drops it).
INTERRUPTED = {
    "detail": "checkout was interrupted and has been undone", "type": "checkout-interrupted",
    "payment_outcome_unknown": True,
}


async def recover_one(checkout: Checkout, order: OrderRecord) -> None:
    deps, book = checkout.deps, checkout.book
    if order.status == OrderStatus.CANCELLED:
        # Cancelled, but the refund was not made (a crash, or the payment service was down).
        settled = await make_due_refund(checkout, order, "order cancelled")
        log.info("recovery settled cancelled order's refund", order_id=str(order.id),
                 refund_failed=settled.refund_failure is not None)
        return
    if order.status == OrderStatus.FAILED:
        # Fenced, with its compensation owed (a crash or an outage after the fence), or failed while
        # the payment's outcome was unknown: give back the hold and whatever went through. The claim
        # comes STUCK_AFTER_SECONDS after the fence at the earliest, so a charge that was in flight has
        # landed by now and the payments listed here are final: the flag can go.
        await compensate(book, deps.payments, deps.inventory, order)
        await book.clear_failure_flag(order.id, "payment_outcome_unknown")
        log.info("recovery compensated failed order", order_id=str(order.id))
        return
    payments = await deps.payments.for_order(order.id)
    paid = next((p for p in payments if p.status in PAID), None)
    # Pinning checks and keeps the hold in one step: it cannot expire between the check and the
    # confirmation, nor before inventory consumes OrderCreated.
    if paid is not None and order.lines and await deps.inventory.pin(order.reservation_id):
        try:
            confirmed = await checkout.confirm_paid(order, paid.id, reason="completed by recovery")
        except Conflict:
            # The slow checkout fenced it meanwhile: it (or a later pass, by `compensation_due`) undoes it.
            log.info("order left pending meanwhile; left to its compensation", order_id=str(order.id))
            return
        log.info("recovery confirmed order", order_id=str(order.id))
        await checkout.take_lines_out_of_cart(confirmed)
        return
    # State first: the payments read above may be stale (a slow checkout may still charge, pin and
    # confirm), so nothing is given back unless the order left `pending` here, under its row lock.
    status = await book.fence(order.id, status_code=503, failure=INTERRUPTED, reason="undone by recovery")
    if status != OrderStatus.FAILED:
        log.info("order was placed meanwhile; recovery undoes nothing", order_id=str(order.id), status=status)
        return
    # Voids what can be seen now; `payment_outcome_unknown` stays, for the pass that catches a late charge.
    await compensate(book, deps.payments, deps.inventory, order)
    log.info("recovery undid order", order_id=str(order.id))


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
