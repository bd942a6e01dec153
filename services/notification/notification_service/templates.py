"""Message templates per event type, in plain text and HTML (values escaped for HTML)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from commerce_platform.events.catalog import OrderCancelled, OrderCreated, OrderLine


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    sms: str


def _money(cents: int, currency: str) -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def _lines_text(lines: list[OrderLine], currency: str) -> str:
    return "\n".join(
        f"  {line.quantity} x {line.name} ({line.sku})  {_money(line.unit_price_cents * line.quantity, currency)}"
        for line in lines
    )


def _lines_html(lines: list[OrderLine], currency: str) -> str:
    rows = "".join(
        f"<tr><td>{line.quantity}</td><td>{html.escape(line.name)}</td><td>{html.escape(line.sku)}</td>"
        f"<td style='text-align:right'>{_money(line.unit_price_cents * line.quantity, currency)}</td></tr>"
        for line in lines
    )
    return f"<table>{rows}</table>"


def order_confirmation(event: OrderCreated, shop: str) -> RenderedMessage:
    number = str(event.order_id)[:8].upper()
    total = _money(event.total_cents, event.currency)
    address = event.shipping_address
    ship_to = ", ".join(p for p in (address.full_name, address.line1, address.line2, address.postal_code,
                                     address.city, address.country) if p)
    text = (
        f"Thank you for your order {number}.\n\n{_lines_text(event.items, event.currency)}\n\n"
        f"Total: {total}\nShipping to: {ship_to}\n\nOrder id: {event.order_id}\n— {shop}\n"
    )
    body = (
        f"<p>Thank you for your order <strong>{number}</strong>.</p>{_lines_html(event.items, event.currency)}"
        f"<p>Total: <strong>{total}</strong><br>Shipping to: {html.escape(ship_to)}</p>"
        f"<p style='color:#666'>Order id: {event.order_id}<br>{html.escape(shop)}</p>"
    )
    return RenderedMessage(
        subject=f"{shop}: order {number} confirmed",
        text=text,
        html=body,
        sms=f"{shop}: order {number} confirmed, total {total}.",
    )


def order_cancellation(event: OrderCancelled, shop: str) -> RenderedMessage:
    number = str(event.order_id)[:8].upper()
    total = _money(event.total_cents, event.currency)
    text = (
        f"Your order {number} was cancelled ({event.reason}).\n"
        f"{total} will be refunded to your payment method.\n\nOrder id: {event.order_id}\n— {shop}\n"
    )
    body = (
        f"<p>Your order <strong>{number}</strong> was cancelled ({html.escape(event.reason)}).</p>"
        f"<p>{total} will be refunded to your payment method.</p>"
        f"<p style='color:#666'>Order id: {event.order_id}<br>{html.escape(shop)}</p>"
    )
    return RenderedMessage(
        subject=f"{shop}: order {number} cancelled",
        text=text,
        html=body,
        sms=f"{shop}: order {number} cancelled; {total} will be refunded.",
    )
