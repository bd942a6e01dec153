"""Payment writes: charge once per idempotency key, refund, void.

Exactly-once charging rests on the database, not on the provider: the local Stripe emulator ignores
idempotency keys, and even real Stripe answers 409 to two concurrent requests with one key. So a
charge first claims its key (a unique row, committed at once), then calls the provider while holding
that row's lock. Concurrent repeats wait on the lock and find the outcome; a repeat after a crash or
a 503 finds the row still pending and charges with the same provider idempotency key, which real
Stripe answers with the first attempt's result. Webhooks take the same lock (see webhooks.py), so
the synchronous answer and the webhook can never both apply a change.

Holding a row lock across a provider call keeps one database connection busy for the call's length
(bounded by the provider timeout); that is the price of the guarantee, paid once per checkout. A
request never takes a second connection while it holds one, so waiters cannot starve the holder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from commerce_platform.database import Database
from commerce_platform.errors import Conflict, DependencyUnavailable, NotFound, PaymentRequired, Unprocessable
from payment_service import store
from payment_service.lifecycle import status_after_refund, transition
from payment_service.models import ChangeSource, Payment, PaymentStatus
from payment_service.providers import (
    ChargeOutcome,
    ChargeRequest,
    PaymentDeclined,
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
)
from payment_service.schemas import ChargeCreate, RefundCreate

_REFUNDABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})
_VOID_REFUND_KEY = "void"


class PaymentService:
    """Charges, refunds and voids, each in its own short transactions on the service's database."""

    def __init__(self, database: Database, provider: PaymentProvider) -> None:
        self.database = database
        self.provider = provider

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self.database.read_pool()
        async with pool.acquire() as conn:
            yield conn

    async def charge(self, data: ChargeCreate) -> Payment:
        """The payment for `data.idempotency_key`, charging it if no attempt has settled yet.

        Raises PaymentRequired (402) for a declined payment, now or on any repeat; Unprocessable (422)
        when the key was used for a different payment; DependencyUnavailable (503) when the provider
        cannot be reached (the payment stays pending, and a repeat with the same key tries again).
        """
        async with self.connection() as conn:
            await store.claim(conn, data, provider=self.provider.name)
            async with conn.transaction():
                payment = await store.lock(conn, "idempotency_key", data.idempotency_key)
                if payment is None:  # claimed just above and never deleted
                    raise RuntimeError(f"payment for key {data.idempotency_key!r} vanished")
                _require_same_request(payment, data)
                # Pending with a provider id means the provider is still processing: its webhook settles it.
                if payment.status == PaymentStatus.PENDING and payment.provider_payment_id is None:
                    await self._settle_charge(conn, payment)
        if payment.failure_code is not None:
            raise declined_problem(payment)
        return payment

    async def refund(self, payment_id: UUID, data: RefundCreate) -> Payment:
        """Give money back once per refund key; the payment ends refunded or partially refunded."""
        key = data.refund_key()
        async with self.connection() as conn, conn.transaction():
            payment = await _locked(conn, payment_id)
            recorded = await store.recorded_refund(conn, payment_id, key)
            if recorded is None:
                await refund_payment(conn, self.provider, payment, data.amount_cents, key=key, reason=data.reason)
            elif data.amount_cents is not None and data.amount_cents != recorded:
                raise Unprocessable(
                    f"this refund idempotency_key was already used for a refund of {recorded}",
                    extra={"payment_id": str(payment.id)},
                )
        return payment

    async def void(self, payment_id: UUID) -> Payment:
        """Undo a payment whatever it reached: cancel what moved no money, refund what did. Idempotent."""
        async with self.connection() as conn, conn.transaction():
            payment = await _locked(conn, payment_id)
            if payment.status in _REFUNDABLE:
                await refund_payment(
                    conn, self.provider, payment, None, key=_VOID_REFUND_KEY, reason="payment voided"
                )
            elif payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
                await self._cancel_at_provider(payment)
                # A pending charge whose answer never came is cancelled here; should it turn out to have
                # succeeded after all, its webhook refunds it (see webhooks.py).
                step = transition(payment, PaymentStatus.CANCELED, source=ChangeSource.SYNC)
                await store.save(conn, payment, step)
        return payment

    async def _settle_charge(self, conn: asyncpg.Connection, payment: Payment) -> None:
        request = ChargeRequest(
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=payment.idempotency_key,
            metadata={"payment_id": str(payment.id), "order_id": str(payment.order_id)},
        )
        try:
            charged = await self.provider.charge(request)
        except PaymentDeclined as declined:
            _record_failure(payment, declined.decline_code, declined.message, declined.provider_payment_id)
        except ProviderRejected as rejected:
            # Refused for the request itself (an amount below the provider's minimum, say): to the
            # shopper this is a payment that cannot go through, like a decline.
            _record_failure(payment, rejected.code or "processing_error", rejected.message, None)
        except ProviderUnavailable as exc:
            raise DependencyUnavailable(
                "the payment provider is unreachable; retry with the same idempotency_key"
            ) from exc
        else:
            payment.provider_payment_id = charged.provider_payment_id
            if charged.outcome == ChargeOutcome.PROCESSING:
                await store.save(conn, payment)
                return
            step = transition(payment, PaymentStatus.SUCCEEDED, source=ChangeSource.SYNC)
            await store.save(conn, payment, step)
            return
        step = transition(payment, PaymentStatus.FAILED, source=ChangeSource.SYNC)
        await store.save(conn, payment, step)

    async def _cancel_at_provider(self, payment: Payment) -> None:
        if payment.provider_payment_id is None:
            return  # the provider never told us of an intent: nothing there to cancel
        try:
            await self.provider.cancel(payment.provider_payment_id, idempotency_key=f"cancel:{payment.id}")
        except ProviderUnavailable as exc:
            raise DependencyUnavailable("the payment provider is unreachable; retry the void") from exc
        except ProviderRejected as exc:
            if payment.status == PaymentStatus.PENDING:
                raise Conflict(
                    f"the provider cannot cancel this payment now: {exc.message}",
                    extra={"payment_status": payment.status.value},
                ) from exc
            # A declined intent the provider will not cancel cannot be charged either: nothing to undo.


async def refund_payment(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    payment: Payment,
    amount_cents: int | None,
    *,
    key: str,
    reason: str | None,
    source: ChangeSource = ChangeSource.SYNC,
    provider_event_id: str | None = None,
) -> None:
    """Refund `amount_cents` (None: all that is left) of a locked payment at the provider and record it."""
    if payment.status == PaymentStatus.REFUNDED and amount_cents is None:
        return  # "refund the rest" when nothing is left is already done
    late_charge = payment.status == PaymentStatus.CANCELED and source == ChangeSource.WEBHOOK
    if payment.status not in _REFUNDABLE and not late_charge:
        raise Conflict(
            f"a {payment.status} payment cannot be refunded", extra={"payment_status": payment.status.value}
        )
    amount = payment.refundable_cents if amount_cents is None else amount_cents
    if amount > payment.refundable_cents:
        raise Conflict(
            f"refund of {amount} exceeds the {payment.refundable_cents} left to refund",
            extra={"refundable_cents": payment.refundable_cents},
        )
    if payment.provider_payment_id is None:
        raise RuntimeError(f"payment {payment.id} is {payment.status} but has no provider payment id")
    metadata = {"payment_id": str(payment.id), "reason": reason or ""}
    try:
        refunded = await provider.refund(
            payment.provider_payment_id, amount, idempotency_key=f"refund:{payment.id}:{key}", metadata=metadata
        )
    except ProviderUnavailable as exc:
        raise DependencyUnavailable("the payment provider is unreachable; retry the refund") from exc
    except ProviderRejected as exc:
        raise Unprocessable(f"the payment provider refused the refund: {exc.message}") from exc
    await store.add_refund(
        conn, payment, amount, key=key, reason=reason, provider_refund_id=refunded.provider_refund_id, source=source
    )
    payment.amount_refunded_cents += amount
    step = transition(payment, status_after_refund(payment), source=source, provider_event_id=provider_event_id)
    await store.save(conn, payment, step)


def declined_problem(payment: Payment) -> PaymentRequired:
    """The 402 a declined payment answers with, the first time and on every repeat of its key."""
    return PaymentRequired(
        f"the payment was declined: {payment.failure_message or payment.failure_code}",
        title="Payment declined",
        extra={
            "decline_code": payment.failure_code,
            "payment_id": str(payment.id),
            "payment_status": payment.status.value,
        },
    )


async def _locked(conn: asyncpg.Connection, payment_id: UUID) -> Payment:
    payment = await store.lock(conn, "id", payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    return payment


def _require_same_request(payment: Payment, data: ChargeCreate) -> None:
    asked = (data.order_id, data.user_id, data.amount_cents, data.currency, data.payment_method)
    stored = (payment.order_id, payment.user_id, payment.amount_cents, payment.currency, payment.payment_method)
    if asked != stored:
        raise Unprocessable(
            "this idempotency_key was already used for a different payment",
            extra={"payment_id": str(payment.id)},
        )


def _record_failure(payment: Payment, code: str, message: str, provider_payment_id: str | None) -> None:
    payment.failure_code = code[:64]
    payment.failure_message = message
    if provider_payment_id is not None:
        payment.provider_payment_id = provider_payment_id
