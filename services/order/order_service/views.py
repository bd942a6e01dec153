"""Orders as clients see them."""

from __future__ import annotations

import msgspec

from commerce_platform.addresses import PostalAddress
from order_service.repositories import OrderRecord
from order_service.schemas import OrderLineView, OrderView, StatusChangeView


def order_view(order: OrderRecord) -> OrderView:
    return OrderView(
        id=order.id,
        user_id=order.user_id,
        status=order.status,
        items=[
            OrderLineView(
                product_id=line.product_id, sku=line.sku, name=line.name, quantity=line.quantity,
                unit_price_cents=line.unit_price_cents, line_total_cents=line.unit_price_cents * line.quantity,
            )
            for line in order.lines
        ],
        total_cents=order.total_cents or 0,
        currency=order.currency or "",
        shipping_address=msgspec.convert(order.shipping_address, PostalAddress),
        payment_id=order.payment_id,
        created_at=order.created_at,
        updated_at=order.updated_at,
        status_history=[
            StatusChangeView(from_status=c.from_status, to_status=c.to_status, reason=c.reason, at=c.created_at)
            for c in order.history
        ],
        refund_pending=order.refund_due,
        refund_failed=order.refund_failure is not None,
    )
