"""HTTP routes of the payment service: shoppers' and admins' reads, the order service's internal
charge/refund/void calls, and Stripe's webhook."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from commerce_platform.auth import Principal
from commerce_platform.database import Database
from commerce_platform.errors import PROBLEM_MEDIA_TYPE, DependencyUnavailable, NotFound
from payment_service import queries
from payment_service.models import PaymentStatus
from payment_service.schemas import ChargeCreate, PaymentPage, PaymentView, RefundCreate, WebhookReceipt
from payment_service.services import PaymentService
from payment_service.webhooks import StripeWebhookHandler, verified_event

BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]
MAX_PAGE_SIZE = 100
Page = Annotated[int, Parameter(ge=1, le=10_000, description="1-based page number")]
PageSize = Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=dict[str, Any], description=description, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
    )


CHARGE_RESPONSES = {
    202: ResponseSpec(data_container=PaymentView, description="accepted; the provider settles it later (pending)"),
    402: _problem("declined: payment-declined with decline_code and payment_id; the payment is stored as failed"),
    409: _problem("payment-voided: the key's payment was voided or refunded (payment_status); nothing is charged"),
    422: _problem("the idempotency_key was already used for a different payment"),
    503: _problem(
        "dependency-unavailable: the provider is unreachable, the payment stays pending; retry with the same key,"
        " or void it. charge-in-progress: another request with this key is still at the provider; retry shortly"
    ),
}


def provide_payments(state: State) -> PaymentService:
    payments: PaymentService = state["payment_service"]
    return payments


def provide_webhooks(state: State) -> StripeWebhookHandler:
    webhooks: StripeWebhookHandler = state["stripe_webhooks"]
    return webhooks


DEPENDENCIES: dict[str, Provide] = {
    "payments": Provide(provide_payments, sync_to_thread=False),
    "webhooks": Provide(provide_webhooks, sync_to_thread=False),
}


class PaymentController(Controller):
    """What shoppers and admins may read; payments are made by the order service, never directly."""

    path = "/v1/payments"
    tags = ["payments"]
    security = BEARER

    @get("/{payment_id:uuid}", operation_id="getPayment", cache=False)
    async def get_payment(self, payment_id: UUID, principal: Principal, database: Database) -> PaymentView:
        """A payment with its refunds and status history: the owner's or, for an admin, anyone's (else 404)."""
        view = await queries.payment_view(database, payment_id)
        if view is None or not (principal.is_admin or view.user_id == principal.user_id):
            raise NotFound(f"payment {payment_id} not found")
        return view

    @get("/", operation_id="listPayments", cache=False)
    async def list_payments(
        self,
        principal: Principal,
        database: Database,
        order_id: UUID | None = None,
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> PaymentPage:
        """The caller's payments, newest first (an admin sees everyone's); `order_id` narrows to one order."""
        owner = None if principal.is_admin else principal.user_id
        return await queries.payments_by(database, user_id=owner, order_id=order_id, page=page, page_size=page_size)


class StripeWebhookController(Controller):
    """Stripe's event deliveries: public, because Stripe calls it; the signature is the authentication."""

    path = "/v1/payments/webhooks"
    tags = ["webhooks"]

    @post("/stripe", operation_id="receiveStripeWebhook", status_code=HTTP_200_OK)
    async def receive_stripe_webhook(
        self,
        request: Request[Any, Any, Any],
        webhooks: StripeWebhookHandler,
        stripe_signature: Annotated[str | None, Parameter(header="Stripe-Signature")] = None,
    ) -> WebhookReceipt:
        """Verify a Stripe event's signature (400 if it fails) and apply it once; redeliveries change nothing."""
        secret: str | None = request.app.state.get("stripe_webhook_secret")
        if not secret:
            raise DependencyUnavailable("Stripe webhooks are not configured on this service")
        event = verified_event(await request.body(), stripe_signature, secret)
        return WebhookReceipt(received=True, outcome=await webhooks.handle(event))


class InternalPaymentController(Controller):
    """Service-to-service routes for the order service: outside the public prefixes, so the gateway
    and the ALB never expose them."""

    path = "/internal/v1/payments"
    tags = ["internal"]

    @post("/", operation_id="createPayment", responses=CHARGE_RESPONSES)
    async def create_payment(
        self, data: ChargeCreate, payments: PaymentService, database: Database
    ) -> Response[PaymentView]:
        """Charge once per idempotency_key: 201 succeeded (202 if the provider is still processing), 402 declined
        (also on repeats), 409 if the payment was voided since, 422 if the key was used for a different payment,
        503 if the provider is unreachable or the key's first request is still in flight."""
        payment = await payments.charge(data)
        status_code = HTTP_202_ACCEPTED if payment.status == PaymentStatus.PENDING else HTTP_201_CREATED
        return Response(await _view(database, payment.id), status_code=status_code)

    @get("/", operation_id="findPayments", cache=False)
    async def find_payments(
        self,
        database: Database,
        order_id: UUID | None = None,
        idempotency_key: Annotated[str | None, Parameter(max_length=200)] = None,
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> PaymentPage:
        """Payments by order or by idempotency key, e.g. for recovering a checkout that crashed mid-way."""
        return await queries.payments_by(
            database, order_id=order_id, idempotency_key=idempotency_key, page=page, page_size=page_size
        )

    @get("/{payment_id:uuid}", operation_id="getPaymentInternal", cache=False)
    async def get_payment(self, payment_id: UUID, database: Database) -> PaymentView:
        """One payment with its refunds and status history."""
        return await _view(database, payment_id)

    @post("/{payment_id:uuid}/refund", operation_id="refundPayment", status_code=HTTP_200_OK)
    async def refund_payment(
        self, payment_id: UUID, payments: PaymentService, database: Database, data: RefundCreate | None = None
    ) -> PaymentView:
        """Refund all that is left, or `amount_cents` of it; the same refund asked twice refunds once.
        409 if the payment is not refundable or the amount exceeds what is left."""
        payment = await payments.refund(payment_id, data or RefundCreate())
        return await _view(database, payment.id)

    @post("/{payment_id:uuid}/void", operation_id="voidPayment", status_code=HTTP_200_OK)
    async def void_payment(self, payment_id: UUID, payments: PaymentService, database: Database) -> PaymentView:
        """Undo a payment: cancel it if no money moved (pending, failed), refund the rest if it did. Idempotent."""
        payment = await payments.void(payment_id)
        return await _view(database, payment.id)


async def _view(database: Database, payment_id: UUID) -> PaymentView:
    view = await queries.payment_view(database, payment_id)
    if view is None:
        raise NotFound(f"payment {payment_id} not found")
    return view


CONTROLLERS = [PaymentController, StripeWebhookController, InternalPaymentController]
