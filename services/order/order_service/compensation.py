"""Giving back what a checkout that will not complete took: its stock hold and its payments.

Runs only on an order already fenced out of `pending` (`OrderBook.fence`, which also sets
`compensation_due`), never before: a checkout that was slow rather than dead may still confirm a
pending order, and a confirmed order keeps its payment and its pinned hold. Every step is
idempotent, so the checkout and the recovery task may both run it for one order; a dependency that
does not answer leaves `compensation_due` set and the recovery task runs it again later.

It gives back only what the payment service shows when asked. A charge still in flight then (its
checkout died or gave up waiting) can land afterwards; so whoever compensates without knowing the
payment's outcome leaves `payment_outcome_unknown` on the order, and the recovery task runs this again
once any charge must have finished (see recovery.py), which voids the late payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import structlog

from order_service.clients import Inventory, PaymentRefused, Payments
from order_service.repositories import OrderBook, OrderRecord

log = structlog.get_logger("order.compensation")

# Payment states that took, or may still take, money.
UNSETTLED = ("succeeded", "partially_refunded", "pending")


async def compensate(
    book: OrderBook, payments: Payments, inventory: Inventory, order: OrderRecord,
    *, payment_ids: Sequence[UUID] | None = None,
) -> None:
    """Release the order's hold and void its payments, then clear `compensation_due`.

    `payment_ids`: the payments to void when the caller knows them all (a checkout knows whether it
    charged); None asks the payment service for every unsettled payment of the order. The hold goes
    first: the inventory usually answers when the payment service does not, and the stock should
    not wait for the money. A void refused for good is recorded on the order (`refund_failure`) for
    someone to settle by hand; retrying it could never succeed."""
    await inventory.release(order.reservation_id)
    if payment_ids is None:
        payment_ids = [p.id for p in await payments.for_order(order.id) if p.status in UNSETTLED]
    refused: list[str] = []
    for payment_id in payment_ids:
        try:
            await payments.void(payment_id)
        except PaymentRefused as exc:
            refused.append(str(exc))
    if refused:
        log.warning("payment service refused to give money back; settle by hand", order_id=str(order.id),
                    refused=refused)
        await book.record_refund_failure(order.id, "; ".join(refused))
    await book.clear_compensation_due(order.id)
