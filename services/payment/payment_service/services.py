"""Payment writes: charge once per idempotency key, refund, void.

Exactly-once charging rests on the database, not on the provider: the local Stripe emulator ignores
idempotency keys, and even real Stripe answers 409 to two concurrent requests with one key. So a
charge first claims its key (a unique row, committed at once), then calls the provider while holding
that row's lock. Concurrent repeats wait on the lock and find the outcome; a repeat after a crash or
a 503 finds the row still pending and charges with the same provider idempotency key, which real
Stripe answers with the first attempt's result. Webhooks take the same lock (see webhooks.py), so
the synchronous answer and the webhook can never both apply a change.

Holding a row lock across a provider call keeps one database connection busy for the call's length
(bounded by the provider's budget, see StripeProvider); that is the price of the guarantee, paid once
per checkout. A repeat that finds the key in flight waits for the lock only briefly, then answers 503
"charge-in-progress", so retries cannot pile up on one lock and drain the pool. A request never takes
a second connection while it holds one, so waiters cannot starve the holder.
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
    REFUND_KEY_METADATA,
    AlreadyCharged,
    ChargeOutcome,
    ChargeRequest,
    PaymentDeclined,
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
)
from payment_service.schemas import ChargeCreate, RefundCreate

_REFUNDABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})
# What a payment ends as once voided (a void of a charge that moved money refunds it).
_VOIDED = frozenset({PaymentStatus.CANCELED, PaymentStatus.REFUNDED})
_VOID_REFUND_KEY = "void"
# How long a repeat waits for a charge in flight under the same key before answering 503: a retry
# must not hold a connection for the first attempt's whole provider call.
IN_FLIGHT_WAIT_SECONDS = 1.0


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

        Raises PaymentRequired (402) for a declined payment, now or on any repeat; Conflict (409) for a
        payment voided or refunded since; Unprocessable (422) when the key was used for a different
        payment; DependencyUnavailable (503) when the provider cannot be reached (the payment stays
        pending, and a repeat with the same key tries again) or another request with the key is still
        at the provider.
        """
        async with self.connection() as conn:
            await store.claim(conn, data, provider=self.provider.name)
            async with conn.transaction():
                payment = await _lock_unless_in_flight(conn, data.idempotency_key)
                _require_same_request(payment, data)
                # Pending with a provider id means the provider is still processing: its webhook settles it.
                if payment.status == PaymentStatus.PENDING and payment.provider_payment_id is None:
                    await self._settle_charge(conn, payment)
        if payment.failure_code is not None:
            raise declined_problem(payment)
        if payment.status in _VOIDED:
            raise voided_problem(payment)
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
                if await self._cancel_at_provider(payment):
                    # The charge went through before its webhook was applied: record that, then give it back.
                    charged = transition(payment, PaymentStatus.SUCCEEDED, source=ChangeSource.SYNC)
                    await store.save(conn, payment, charged)
                    await refund_payment(
                        conn, self.provider, payment, None, key=_VOID_REFUND_KEY, reason="payment voided"
                    )
                    return payment
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

    async def _cancel_at_provider(self, payment: Payment) -> bool:
        """Cancel the payment's intent; True if a pending one could not be because it succeeded meanwhile."""
        if payment.provider_payment_id is None:
            return False  # the provider never told us of an intent: nothing there to cancel
        try:
            await self.provider.cancel(payment.provider_payment_id, idempotency_key=f"cancel:{payment.id}")
        except ProviderUnavailable as exc:
            raise DependencyUnavailable("the payment provider is unreachable; retry the void") from exc
        except ProviderRejected as exc:
            if payment.status != PaymentStatus.PENDING:
                # A declined intent the provider will not cancel cannot be charged either: nothing to undo.
                return False
            if isinstance(exc, AlreadyCharged):
                return True
            raise Conflict(
                f"the provider cannot cancel this payment now: {exc.message}",
                extra={"payment_status": payment.status.value},
            ) from exc
        return False


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
    # The key travels in the metadata so that the webhook reporting this refund records it under the
    # key a retry of this request looks for (see webhooks.py).
    metadata = {"payment_id": str(payment.id), "reason": reason or "", REFUND_KEY_METADATA: key}
    # "The rest" is worked out now; a retry after someone else refunded asks for a different amount,
    # which must not reuse the first attempt's provider key (the provider refuses changed parameters).
    provider_key = f"refund:{payment.id}:{key}" + ("" if amount_cents is not None else f":{amount}")
    try:
        refunded = await provider.refund(
            payment.provider_payment_id, amount, idempotency_key=provider_key, metadata=metadata
        )
    except ProviderUnavailable as exc:
        raise DependencyUnavailable("the payment provider is unreachable; retry the refund") from exc
    except ProviderRejected as exc:
        raise Unprocessable(f"the payment provider refused the refund: {exc.message}") from exc
    recorded = await store.add_refund(
        conn, payment, amount, key=key, reason=reason, provider_refund_id=refunded.provider_refund_id, source=source
    )
    if not recorded:
        return  # the provider replayed a refund a webhook already recorded: it is counted once, there
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


def voided_problem(payment: Payment) -> Conflict:
    """The 409 a repeated charge answers once its payment was voided: nothing more is charged under the key."""
    return Conflict(
        f"the payment under this idempotency_key was {payment.status}; nothing more will be charged under it",
        problem_type="payment-voided",
        title="Payment voided",
        extra={"payment_id": str(payment.id), "payment_status": payment.status.value},
    )


async def _lock_unless_in_flight(conn: asyncpg.Connection, idempotency_key: str) -> Payment:
    """The claimed payment, locked; 503 if another request holds it (its provider call is in flight)."""
    try:
        payment = await store.lock(conn, "idempotency_key", idempotency_key, wait_seconds=IN_FLIGHT_WAIT_SECONDS)
    except asyncpg.LockNotAvailableError as exc:
        raise DependencyUnavailable(
            "a charge with this idempotency_key is still in progress; retry shortly",
            problem_type="charge-in-progress",
            headers={"Retry-After": "1"},
        ) from exc
    if payment is None:  # claimed just before and never deleted
        raise RuntimeError(f"payment for key {idempotency_key!r} vanished")
    return payment


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
