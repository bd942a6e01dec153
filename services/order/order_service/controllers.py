"""HTTP routes of the order service: checkout, the caller's orders, cancellation."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from commerce_platform.auth import Principal
from commerce_platform.errors import BadRequest, NotFound
from order_service.cancellation import cancel_order
from order_service.checkout import Checkout
from order_service.repositories import PLACED, OrderRecord
from order_service.schemas import IDEMPOTENCY_KEY_MAX, CancelRequest, CheckoutRequest, OrderPage, OrderView
from order_service.views import order_view

# Deep enough for any real browsing; bounds OFFSET far inside bigint (a larger page was a 500).
MAX_PAGE = 10_000


def _checkout(request: Request[Any, Any, Any]) -> Checkout:
    checkout: Checkout = request.app.state["checkout"]
    return checkout


async def _visible_order(checkout: Checkout, order_id: UUID, principal: Principal) -> OrderRecord:
    """The order if the caller may see it; another user's order is 404, not 403 (no probing ids)."""
    order = await checkout.book.get(order_id)
    if order is None or order.status not in PLACED or (order.user_id != principal.user_id and not principal.is_admin):
        raise NotFound("no such order")
    return order


class OrderController(Controller):
    path = "/v1/orders"
    tags = ["orders"]

    @post("/", operation_id="checkout", status_code=HTTP_201_CREATED)
    async def checkout(
        self,
        request: Request[Any, Any, Any],
        data: CheckoutRequest,
        principal: Principal,
        idempotency_key: Annotated[str | None, Parameter(header="Idempotency-Key")] = None,
    ) -> Response[OrderView]:
        """Check out the caller's cart: 201 confirmed order; 402 declined; 409 short of stock.
        Repeating the same Idempotency-Key returns the same order and charges once."""
        if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
            raise BadRequest(f"an Idempotency-Key header (1 to {IDEMPOTENCY_KEY_MAX} characters) is required")
        order = await _checkout(request).run(principal, idempotency_key, data)
        return Response(order_view(order), status_code=HTTP_201_CREATED)

    @get("/", operation_id="listOrders", cache=False)
    async def list_orders(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        page: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="1-based page number")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> OrderPage:
        """The caller's orders, newest first; an admin sees everyone's."""
        orders, total = await _checkout(request).book.list(
            user_id=None if principal.is_admin else principal.user_id, page=page, page_size=page_size
        )
        return OrderPage(items=[order_view(o) for o in orders], total=total, page=page, page_size=page_size)

    @get("/{order_id:uuid}", operation_id="getOrder", cache=False)
    async def get_order(self, request: Request[Any, Any, Any], order_id: UUID, principal: Principal) -> OrderView:
        """One order with its lines and status history (own orders; admins see all)."""
        return order_view(await _visible_order(_checkout(request), order_id, principal))

    @post("/{order_id:uuid}/cancel", operation_id="cancelOrder", status_code=HTTP_200_OK)
    async def cancel(
        self, request: Request[Any, Any, Any], order_id: UUID, principal: Principal, data: CancelRequest | None = None
    ) -> OrderView:
        """Cancel a confirmed order: refund the payment, give the stock back, announce OrderCancelled."""
        checkout = _checkout(request)
        order = await _visible_order(checkout, order_id, principal)
        default_reason = "cancelled by admin" if principal.is_admin else "cancelled by customer"
        reason = (data.reason if data else None) or default_reason
        return order_view(await cancel_order(checkout, order, reason))
