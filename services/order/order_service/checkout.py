"""Checkout, the design's sequence: confirm the user, read and price the cart, reserve stock, charge,
pin the stock hold, save the order with its OrderCreated outbox row, take the lines out of the cart.

The hold is pinned once the payment went through and before the order is confirmed: a pinned hold
no longer expires, so inventory commits it whenever it consumes OrderCreated. A hold that ran out
before the payment completed cannot be pinned, and the checkout is undone instead.

A step that fails undoes the ones before it, state first: the order leaves `pending` (failed, with
`compensation_due`) under its row lock, and only then are the hold released and the payment voided
(compensation.py). If it turns out confirmed meanwhile, nothing is undone. If the process dies
half-way the order stays `pending` and the recovery task finishes or undoes it the same way.
The Idempotency-Key makes the whole sequence safe to repeat: one order, one charge.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
import structlog

from commerce_platform.auth import Principal
from commerce_platform.clients.product_catalog import ProductCatalog
from commerce_platform.errors import (
    Conflict,
    DependencyUnavailable,
    PaymentRequired,
    ProblemError,
    Unprocessable,
)
from order_service.clients import Carts, Declined, Inventory, Payments, UserDirectory
from order_service.compensation import compensate
from order_service.events import order_created
from order_service.repositories import OrderBook, OrderRecord
from order_service.schemas import CheckoutRequest
from order_service.status import OrderStatus

log = structlog.get_logger("order.checkout")
RESERVATION_TTL_SECONDS = 900
# How long a repeat of an in-flight request waits for the first one's outcome.
CONCURRENT_REPEAT_WAIT_SECONDS = 30.0


@dataclass
class Collaborators:
    users: UserDirectory
    carts: Carts
    catalog: ProductCatalog
    inventory: Inventory
    payments: Payments


def request_fingerprint(body: CheckoutRequest) -> str:
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


class Checkout:
    def __init__(self, book: OrderBook, deps: Collaborators) -> None:
        self.book = book
        self.deps = deps

    async def run(self, principal: Principal, idempotency_key: str, body: CheckoutRequest) -> OrderRecord:
        """The confirmed order, or a ProblemError saying why not (the same answer for every repeat)."""
        order, created = await self.book.open(
            user_id=principal.user_id,
            idempotency_key=idempotency_key,
            request_hash=request_fingerprint(body),
            shipping_address=msgspec.to_builtins(body.shipping_address),
            payment_method=body.payment_method,
        )
        if not created:
            return await self._replay(order, request_fingerprint(body))
        return await self._place(order)

    async def _replay(self, order: OrderRecord, fingerprint: str) -> OrderRecord:
        if order.request_hash != fingerprint:
            raise Unprocessable("this Idempotency-Key was used with a different request body")
        settled = await self.book.wait_until_settled(order.id, timeout_seconds=CONCURRENT_REPEAT_WAIT_SECONDS)
        if settled.status == OrderStatus.PENDING:
            raise DependencyUnavailable("the first request with this Idempotency-Key is still running")
        if settled.status == OrderStatus.FAILED:
            failure = dict(settled.failure or {})
            raise ProblemError(
                str(failure.pop("detail", "checkout failed")),
                status_code=settled.failure_status or 500,
                problem_type=str(failure.pop("type", "checkout-failed")),
                extra={k: v for k, v in failure.items() if k != "payment_outcome_unknown"},
            )
        return settled

    async def _place(self, order: OrderRecord) -> OrderRecord:
        payment_id: UUID | None = None
        payment_unknown = False
        try:
            customer = await self.deps.users.active_customer(order.user_id)
            lines, total, currency = await self._priced_cart(order.user_id)
            # The priced order is held from here on: the event and the response are built from it.
            priced = await self.book.price(order, email=customer.email, lines=lines, total_cents=total,
                                           currency=currency)
            reservation_lines = [{"product_id": str(ln["product_id"]), "quantity": ln["quantity"]} for ln in lines]
            short = await self.deps.inventory.reserve(order.reservation_id, reservation_lines, RESERVATION_TTL_SECONDS)
            if short is not None:
                raise Conflict("not enough stock for some items", problem_type="out-of-stock",
                               extra={"short_lines": short.lines})
            payment_unknown = True
            outcome = await self.deps.payments.charge(
                order_id=order.id, user_id=order.user_id, amount_cents=total, currency=currency,
                payment_method=order.payment_method,
            )
            payment_unknown = False
            if isinstance(outcome, Declined):
                raise PaymentRequired(outcome.detail, extra={"decline_code": outcome.decline_code})
            payment_id = outcome.id
            if not await self.deps.inventory.pin(order.reservation_id):
                raise Conflict(
                    "the stock hold ran out before the payment completed", problem_type="reservation-expired"
                )
            confirmed = await self.confirm_paid(priced, payment_id, reason="payment succeeded")
        except ProblemError as exc:
            placed = await self._undo(order, payment_id, exc, payment_unknown=payment_unknown)
            if placed is None:
                raise
            confirmed = placed
        except Exception as exc:
            log.exception("checkout failed unexpectedly", order_id=str(order.id))
            confirmed = await self._undo_unexpected(order, payment_id, exc)
        await self.take_lines_out_of_cart(confirmed)
        return confirmed

    async def confirm_paid(self, priced: OrderRecord, payment_id: UUID, *, reason: str) -> OrderRecord:
        """pending -> confirmed with its OrderCreated row; the confirmed order. If it was confirmed
        meanwhile (a slow checkout and the recovery task both finishing one order), that outcome
        stands and is returned: nothing may be undone."""
        try:
            return await self.book.confirm(priced, payment_id=payment_id, event=order_created(priced), reason=reason)
        except Conflict:
            current = await self.book.get(priced.id)
            if current is not None and current.status == OrderStatus.CONFIRMED:
                log.info("order was already confirmed", order_id=str(priced.id))
                return current
            raise

    async def _priced_cart(self, user_id: UUID) -> tuple[list[dict[str, Any]], int, str]:
        cart = await self.deps.carts.lines(user_id)
        if not cart:
            raise Unprocessable("the cart is empty", problem_type="empty-cart")
        prices = await self.deps.catalog.prices([line.product_id for line in cart])
        unavailable = [
            str(ln.product_id) for ln in cart if ln.product_id not in prices or not prices[ln.product_id].active
        ]
        if unavailable:
            raise Conflict("some products are no longer sold", problem_type="product-unavailable",
                           extra={"unavailable": unavailable})
        currencies = {prices[ln.product_id].currency for ln in cart}
        if len(currencies) != 1:
            raise Conflict("the cart mixes currencies", problem_type="mixed-currency")
        lines: list[dict[str, Any]] = [
            {
                "product_id": ln.product_id,
                "sku": prices[ln.product_id].sku,
                "name": prices[ln.product_id].name,
                "quantity": ln.quantity,
                "unit_price_cents": prices[ln.product_id].price_cents,
            }
            for ln in cart
        ]
        total = sum(int(ln["unit_price_cents"]) * int(ln["quantity"]) for ln in lines)
        return lines, total, currencies.pop()

    async def _undo(
        self, order: OrderRecord, payment_id: UUID | None, exc: ProblemError, *, payment_unknown: bool
    ) -> OrderRecord | None:
        """Fence the order out of `pending` first, then give back what was taken. None once the
        order failed; the order if it turned out placed (recovery confirmed it, or our own confirm
        committed but its answer was lost), which keeps its payment and hold. If giving back fails,
        `compensation_due` stays and the recovery task finishes it; the client still gets `exc`."""
        failure: dict[str, Any] = {"detail": exc.detail, "type": exc.problem_type, **exc.extra}
        if payment_unknown:
            # The charge may have gone through before the payment service stopped answering.
            failure["payment_outcome_unknown"] = True
        status = await self.book.fence(order.id, status_code=exc.status_code, failure=failure, reason=exc.detail)
        if status != OrderStatus.FAILED:
            log.warning("checkout failed but its order was placed meanwhile; nothing undone", order_id=str(order.id))
            return await self.book.get(order.id)
        # Our own charge, when we know how it went; otherwise every unsettled payment of the order.
        known = None if payment_unknown else ([payment_id] if payment_id is not None else [])
        try:
            await compensate(self.book, self.deps.payments, self.deps.inventory, order, payment_ids=known)
        except DependencyUnavailable:
            log.warning("compensation deferred to recovery", order_id=str(order.id))
        return None

    async def _undo_unexpected(self, order: OrderRecord, payment_id: UUID | None, exc: Exception) -> OrderRecord:
        """`_undo` after a bug or a lost connection: the placed order if it turned out placed, else a
        503 that claims only what is known about the money."""
        problem = ProblemError("checkout failed", status_code=500, problem_type="internal-error")
        try:
            placed = await self._undo(order, payment_id, problem, payment_unknown=True)
        except Exception:
            # Not even fenced: the order stays pending, and recovery confirms or undoes it.
            log.exception("could not undo the checkout; left to recovery", order_id=str(order.id))
            raise DependencyUnavailable(
                "checkout could not be completed; repeat it with the same Idempotency-Key for its outcome"
            ) from exc
        if placed is None:
            raise DependencyUnavailable(
                "checkout could not be completed; the order was not placed and any payment taken for it is"
                " given back"
            ) from exc
        return placed

    async def take_lines_out_of_cart(self, order: OrderRecord) -> None:
        lines = [{"product_id": str(line.product_id), "quantity": line.quantity} for line in order.lines]
        try:
            await self.deps.carts.remove_ordered(order.user_id, order.id, lines)
        except DependencyUnavailable:
            # The order stands; the shopper sees the items still in the cart and can remove them.
            log.warning("could not take ordered lines out of the cart", order_id=str(order.id))
