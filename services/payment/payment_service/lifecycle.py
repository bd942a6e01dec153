"""The payment state machine: which status may follow which, and the history step each change leaves.

Both the synchronous charge and the provider's webhooks move a payment through `transition`, always
under the payment's row lock, so whichever comes second finds the status already reached and
changes nothing: applying "succeeded" twice is a no-op, never a second history step.
"""

from __future__ import annotations

from payment_service.models import ChangeSource, Payment, PaymentStatus, StatusChange

_ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELED}),
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset({PaymentStatus.REFUNDED}),
    # A declined intent can still be cancelled at the provider, so it can never be confirmed later.
    PaymentStatus.FAILED: frozenset({PaymentStatus.CANCELED}),
    # Voided while the charge's outcome was unknown, then the charge turned out to have succeeded:
    # the money was taken and has been given back.
    PaymentStatus.CANCELED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
}

CREATED = StatusChange(from_status=None, to_status=PaymentStatus.PENDING, source=ChangeSource.SYNC)


class IllegalTransition(Exception):
    """A change the state machine does not allow (a bug or an out-of-order provider event)."""


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in _ALLOWED[current]


def transition(
    payment: Payment, target: PaymentStatus, *, source: ChangeSource, provider_event_id: str | None = None
) -> StatusChange | None:
    """Move `payment` (locked by the caller) to `target` and return the step to record.

    Returns None, changing nothing, when the payment is already there; raises IllegalTransition for
    a step the machine forbids.
    """
    current = payment.status
    if current == target:
        return None
    if not can_transition(current, target):
        raise IllegalTransition(f"payment {payment.id} cannot go from {current} to {target}")
    payment.status = target
    return StatusChange(from_status=current, to_status=target, source=source, provider_event_id=provider_event_id)


def status_after_refund(payment: Payment) -> PaymentStatus:
    """Refunded once nothing is left to give back, else partially refunded."""
    if payment.amount_refunded_cents >= payment.amount_cents:
        return PaymentStatus.REFUNDED
    return PaymentStatus.PARTIALLY_REFUNDED
