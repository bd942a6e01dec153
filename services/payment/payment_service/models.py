"""The payment as the code handles it: its statuses, who reported a change, and its row.

The tables themselves are declared by the hand-written migration (migrations/versions/); the service
reads and writes them with plain SQL (see store.py for why), so these are plain classes, not ORM models.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID


class PaymentStatus(enum.StrEnum):
    # The idempotency key is claimed; the provider's answer is not known yet (or never arrived).
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    # Voided before any money moved.
    CANCELED = "canceled"


class ChangeSource(enum.StrEnum):
    """Who learned of a status change: our own call to the provider, or the provider's webhook."""

    SYNC = "sync"
    WEBHOOK = "webhook"


@dataclass(slots=True)
class Payment:
    """One charge for one order, identified by the caller's idempotency key: a row of `payment`,
    read under its lock and changed in memory until `store.save` writes it back."""

    id: UUID
    order_id: UUID
    user_id: UUID
    amount_cents: int
    currency: str
    payment_method: str
    idempotency_key: str
    status: PaymentStatus
    provider: str
    provider_payment_id: str | None
    amount_refunded_cents: int
    # The provider's reason for a decline (e.g. card_declined, insufficient_funds).
    failure_code: str | None
    failure_message: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Payment:
        fields = dict(row)
        fields["status"] = PaymentStatus(fields["status"])
        return cls(**fields)

    @property
    def refundable_cents(self) -> int:
        return self.amount_cents - self.amount_refunded_cents


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One step of a payment's status history (a row of `payment_status_change`)."""

    from_status: PaymentStatus | None
    to_status: PaymentStatus
    source: ChangeSource
    # The webhook event that caused the change, when one did.
    provider_event_id: str | None = None
