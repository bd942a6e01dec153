"""The order state machine: which status may follow which, checked on every change."""

from __future__ import annotations

from enum import StrEnum

from commerce_platform.errors import Conflict


class OrderStatus(StrEnum):
    PENDING = "pending"  # row written, checkout running (or crashed: recovery finishes it)
    CONFIRMED = "confirmed"  # stock reserved, payment taken, OrderCreated in the outbox
    # checkout refused or interrupted (stock, payment, dependency); left `pending` before anything
    # was undone, its steps undone since or, while `compensation_due`, still being undone
    FAILED = "failed"
    CANCELLED = "cancelled"  # refunded and stock given back


ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.FAILED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.FAILED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def ensure_transition(current: str, target: OrderStatus) -> None:
    """Raise 409 unless `target` may follow `current`."""
    if target not in ALLOWED[OrderStatus(current)]:
        raise Conflict(f"an order that is {current} cannot become {target}", extra={"status": current})
