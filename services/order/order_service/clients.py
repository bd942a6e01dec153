"""The calls checkout makes to the user, cart, inventory and payment services, typed.

Each call has the platform client's timeout; reads and calls that carry an idempotency key (the
reservation id, the payment's key) are retried, anything else is not. A dependency that does not
answer raises DependencyUnavailable (503); a refund or void refused for good raises PaymentRefused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec

from commerce_platform.errors import Conflict, DependencyUnavailable, Forbidden
from commerce_platform.http_client import ServiceClient, ServiceResponse


def _fail(service: str, response: ServiceResponse) -> DependencyUnavailable:
    return DependencyUnavailable(f"the {service} service answered HTTP {response.status}")


# 4xx answers that still mean "not now" rather than "never".
_TRANSIENT_CLIENT_ERRORS = frozenset({408, 425, 429})


class PaymentRefused(Exception):
    """The payment service refused to give money back for good (a 4xx: a canceled or failed payment,
    the provider refusing the refund): asking again cannot help, so the caller records it for someone
    to settle by hand instead of retrying. Not a ProblemError: callers must handle it."""

    def __init__(self, payment_id: UUID, status: int, detail: str) -> None:
        super().__init__(f"payment {payment_id}: HTTP {status}: {detail}")
        self.payment_id, self.status, self.detail = payment_id, status, detail


def _give_back_failed(payment_id: UUID, response: ServiceResponse) -> Exception:
    """PaymentRefused for a final 4xx; DependencyUnavailable (retry later) for anything else."""
    if 400 <= response.status < 500 and response.status not in _TRANSIENT_CLIENT_ERRORS:
        try:
            body = response.json()
        except msgspec.DecodeError:
            body = None
        detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
        return PaymentRefused(payment_id, response.status, detail or f"HTTP {response.status}")
    return _fail("payment", response)


@dataclass(frozen=True)
class Customer:
    id: UUID
    email: str


class UserDirectory:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def active_customer(self, user_id: UUID) -> Customer:
        """The user service confirms the account exists and is active (a token outlives a ban)."""
        response = await self.client.get(f"/internal/v1/users/{user_id}")
        if response.status == 404:
            raise Forbidden("this account no longer exists")
        if not response.ok:
            raise _fail("user", response)
        body = response.json()
        if not body.get("is_active", False):
            raise Forbidden("this account is not active")
        return Customer(id=user_id, email=str(body["email"]))


class CartLineRef(msgspec.Struct):
    product_id: UUID
    quantity: int


class _CartView(msgspec.Struct):
    items: list[CartLineRef]


class Carts:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def lines(self, user_id: UUID) -> list[CartLineRef]:
        response = await self.client.get(f"/internal/v1/carts/{user_id}")
        if not response.ok:
            raise _fail("cart", response)
        return msgspec.json.decode(response.body, type=_CartView).items

    async def remove_ordered(self, user_id: UUID, order_id: UUID, lines: list[dict[str, Any]]) -> None:
        response = await self.client.post(
            f"/internal/v1/carts/{user_id}/remove-ordered",
            json={"order_id": str(order_id), "lines": lines},
            retry=True,  # once per order id on the cart side
        )
        if not response.ok:
            raise _fail("cart", response)


@dataclass(frozen=True)
class ShortStock:
    lines: list[dict[str, Any]]


class Inventory:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def reserve(self, reservation_id: UUID, lines: list[dict[str, Any]], ttl_seconds: int) -> ShortStock | None:
        """Hold every line or none; the reservation id makes retries safe."""
        response = await self.client.post(
            "/internal/v1/reservations",
            json={"reservation_id": str(reservation_id), "lines": lines, "ttl_seconds": ttl_seconds},
            retry=True,
        )
        if response.status == 409:
            body = response.json() or {}
            if str(body.get("type", "")).endswith("/insufficient-stock"):
                return ShortStock(lines=list(body.get("short_lines") or []))
            # The id was released or used for other lines: nothing is held for this checkout.
            raise Conflict(str(body.get("detail", "the reservation was refused")), problem_type="reservation-refused")
        if not response.ok:
            raise _fail("inventory", response)
        return None

    async def pin(self, reservation_id: UUID) -> bool:
        """Keep the hold until the order settles (call it once the payment went through, before the
        order is confirmed): it no longer expires, so OrderCreated commits it however late it is
        consumed. True if pinned (or already committed); False if it no longer holds (expired,
        released, past its expiry, unknown). Idempotent."""
        response = await self.client.post(f"/internal/v1/reservations/{reservation_id}/pin", retry=True)
        if response.status in (404, 409):
            return False
        if not response.ok:
            raise _fail("inventory", response)
        return True

    async def release(self, reservation_id: UUID) -> None:
        """Give held units back; idempotent. An id inventory never saw is recorded as released, so a
        reserve of it still on its way is refused (a 404 from an older inventory: nothing was held)."""
        response = await self.client.post(f"/internal/v1/reservations/{reservation_id}/release", retry=True)
        if response.status not in (200, 404, 409):
            raise _fail("inventory", response)


@dataclass(frozen=True)
class Payment:
    id: UUID
    status: str


@dataclass(frozen=True)
class Declined:
    detail: str
    decline_code: str | None


class Payments:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def charge(
        self, *, order_id: UUID, user_id: UUID, amount_cents: int, currency: str, payment_method: str
    ) -> Payment | Declined:
        """Charge once per order: the order id is the idempotency key, so a retry never charges twice."""
        response = await self.client.post(
            "/internal/v1/payments",
            json={
                "order_id": str(order_id),
                "user_id": str(user_id),
                "amount_cents": amount_cents,
                "currency": currency,
                "payment_method": payment_method,
                "idempotency_key": f"order-{order_id}",
            },
            retry=True,
        )
        if response.status == 402:
            body = response.json() or {}
            return Declined(detail=str(body.get("detail", "payment declined")), decline_code=body.get("decline_code"))
        if response.status == 409 and str((response.json() or {}).get("type", "")).endswith("/payment-voided"):
            # The order's payment was voided (recovery undid it) before this repeat: final, not a retry.
            raise Conflict(
                "this checkout's payment was cancelled and nothing is charged for it; check out again",
                problem_type="payment-voided",
            )
        if not response.ok:
            raise _fail("payment", response)
        body = response.json()
        if body.get("status") != "succeeded":
            # 202 pending: the provider has not decided. Not paid; recovery settles it later.
            raise DependencyUnavailable("the payment provider has not confirmed the charge yet")
        return Payment(id=UUID(body["id"]), status=str(body["status"]))

    async def for_order(self, order_id: UUID) -> list[Payment]:
        """Every payment attempt made for an order (recovery settles them after a crash or outage)."""
        response = await self.client.get("/internal/v1/payments", params={"order_id": str(order_id)})
        if not response.ok:
            raise _fail("payment", response)
        return [Payment(id=UUID(item["id"]), status=str(item["status"])) for item in response.json().get("items", [])]

    async def void(self, payment_id: UUID) -> None:
        """Undo a payment whatever its state: refund what was taken, cancel what is pending. Idempotent.
        PaymentRefused if the payment service refuses for good, DependencyUnavailable to retry later."""
        response = await self.client.post(f"/internal/v1/payments/{payment_id}/void", retry=True)
        if not response.ok:
            raise _give_back_failed(payment_id, response)

    async def refund(self, payment_id: UUID, *, reason: str) -> None:
        """Refund what is left of a payment; once however often asked. PaymentRefused if the payment
        service refuses for good, DependencyUnavailable to retry later."""
        response = await self.client.post(
            f"/internal/v1/payments/{payment_id}/refund", json={"reason": reason}, retry=True
        )
        if not response.ok:
            raise _give_back_failed(payment_id, response)
