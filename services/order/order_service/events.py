"""Events the order service publishes (through its outbox): OrderCreated and OrderCancelled."""

from __future__ import annotations

import datetime

from commerce_platform.events.catalog import OrderCancelled, OrderCreated, OrderLine, ShippingAddress
from order_service.repositories import OrderRecord


def _lines(order: OrderRecord) -> list[OrderLine]:
    return [
        OrderLine(
            product_id=line.product_id, sku=line.sku, name=line.name, quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
        )
        for line in order.lines
    ]


def order_created(order: OrderRecord) -> OrderCreated:
    assert order.email is not None and order.total_cents is not None and order.currency is not None
    return OrderCreated(
        order_id=order.id,
        user_id=order.user_id,
        email=order.email,
        reservation_id=order.reservation_id,
        items=_lines(order),
        total_cents=order.total_cents,
        currency=order.currency,
        shipping_address=ShippingAddress(**order.shipping_address),
        created_at=order.created_at,
    )


def order_cancelled(order: OrderRecord, reason: str) -> OrderCancelled:
    assert order.email is not None and order.total_cents is not None and order.currency is not None
    return OrderCancelled(
        order_id=order.id,
        user_id=order.user_id,
        email=order.email,
        reservation_id=order.reservation_id,
        items=_lines(order),
        total_cents=order.total_cents,
        currency=order.currency,
        reason=reason,
        cancelled_at=datetime.datetime.now(datetime.UTC),
    )
