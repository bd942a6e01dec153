"""One checkout is one trace: spans from the order, user, cart, product, inventory and payment
services, the SNS publish continued by the inventory and notification consumers, and the trace id
in the services' log lines. The stack's processes write finished spans to the session's traces file."""

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp

from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import (
    add_to_cart,
    admin_headers,
    create_category,
    create_product,
    new_shopper,
    set_stock,
)
from tests.test_checkout_story import place_order


def spans_of(traces_file: Path, trace_id: str) -> list[dict[str, Any]]:
    if not traces_file.exists():
        return []
    spans = []
    for line in traces_file.read_text().splitlines():
        if trace_id in line:
            span = json.loads(line)
            if span["trace_id"] == trace_id:
                spans.append(span)
    return spans


async def test_one_checkout_is_one_trace_across_http_and_sns_sqs(
    stack: Stack, http: aiohttp.ClientSession, traces_file: Path
) -> None:
    gw = stack.gateway_url
    admin = await admin_headers(http, gw, stack.admin_email, stack.admin_password)
    category = await create_category(http, gw, admin)
    product = await create_product(http, gw, admin, category=category)
    await set_stock(http, gw, admin, product["id"], 3)
    shopper = await new_shopper(http, gw)
    await add_to_cart(http, gw, shopper, product["id"], 1)

    # The client starts the trace, as a browser with tracing or an API gateway would.
    trace_id = secrets.token_hex(16)
    status, order = await place_order(http, gw, shopper, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01")
    assert status == 201, order

    wanted = {"order-service", "user-service", "cart-service", "product-service", "inventory-service",
              "payment-service", "notification-service"}
    deadline = time.monotonic() + 30
    while True:
        spans = spans_of(traces_file, trace_id)
        services = {s["service"] for s in spans}
        consumers = {s["service"] for s in spans if s["kind"] == "CONSUMER"}
        complete = wanted <= services and {"inventory-service", "notification-service"} <= consumers
        if complete or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert wanted <= services, services
    producers = [s for s in spans if s["kind"] == "PRODUCER" and s["service"] == "order-service"]
    assert producers, "the order service's SNS publish is part of the checkout's trace"
    assert {"inventory-service", "notification-service"} <= consumers
    # Every span hangs off another span of the same trace, except the client's root.
    ids = {s["span_id"] for s in spans}
    orphans = [s for s in spans if s["parent_span_id"] not in ids]
    assert all(o["service"] == "order-service" and o["kind"] == "SERVER" for o in orphans), orphans

    log_lines = (stack.log_dir / "order.log").read_text().splitlines()
    assert any(_json_line(line).get("trace_id") == trace_id for line in log_lines)


def _json_line(line: str) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except ValueError:
        return {}  # uvicorn's own startup lines are plain text
    return parsed if isinstance(parsed, dict) else {}
