"""A service of the checkout's call graph with nothing but the hops: bare Litestar handlers that answer
small JSON and make exactly the service-to-service calls the real service makes, over one keep-alive
aiohttp session, with no database, no events, no middleware, no telemetry and no logging.

`bench.hops` runs one uvicorn process of this app per platform service, with the services' flags, and
drives the shopper mix of `bench.checkout` through the real gateway: what those processes spend per
checkout is the floor any Litestar + aiohttp implementation of the design pays before doing any work.
Peers come from `HOP_PEERS` (JSON: service name -> base URL).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from litestar import Litestar, Request, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

PEERS_ENV = "HOP_PEERS"
# Payloads about the size of the real ones: a product, a page of 20 products, a cart of 2 lines.
PRODUCT = {"id": str(uuid.UUID(int=1)), "sku": "SKU-0001", "name": "Blue Kettle 1", "description": "A kettle." * 8,
           "price_cents": 1999, "currency": "EUR", "active": True, "category_id": str(uuid.UUID(int=2))}
PAGE = {"items": [PRODUCT] * 20, "page": 1, "page_size": 20, "total": 30}
PRICES = {"items": [{k: PRODUCT[k] for k in ("id", "sku", "name", "price_cents", "currency", "active")}] * 2}
CART = {"id": str(uuid.UUID(int=3)), "items": [{**PRICES["items"][0], "quantity": 1, "line_total_cents": 1999}] * 2,
        "item_count": 2, "total_cents": 3998, "currency": "EUR"}
ORDER = {"id": str(uuid.UUID(int=4)), "status": "confirmed", "lines": CART["items"], "total_cents": 3998,
         "currency": "EUR", "history": [{"from_status": None, "to_status": "pending"}] * 2}


async def _call(request: Request[Any, Any, Any], peer: str, method: str, path: str, body: Any = None) -> Any:
    session: aiohttp.ClientSession = request.app.state.session
    url = request.app.state.peers[peer] + path
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} if data is not None else None
    async with session.request(method, url, data=data, headers=headers) as resp:
        payload = await resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{peer} {path}: {resp.status}")
        return json.loads(payload) if payload else None


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


# Browsing: the product page, a page of products, a search (product and search services).
@get("/v1/products/{product_id:str}", sync_to_thread=False)
def product_page(product_id: str) -> dict[str, Any]:
    return PRODUCT


@get("/v1/products", sync_to_thread=False)
def product_list() -> dict[str, Any]:
    return PAGE


@get("/v1/search", sync_to_thread=False)
def search() -> dict[str, Any]:
    return PAGE


# The product service's internal price lookup, asked by the cart (views, adds) and the order service.
@post("/internal/v1/products/lookup", status_code=HTTP_200_OK, sync_to_thread=False)
def lookup(data: dict[str, Any]) -> dict[str, Any]:
    return PRICES


# Cart: a view and an add each price the lines with one product lookup.
@get("/v1/cart")
async def view_cart(request: Request[Any, Any, Any]) -> dict[str, Any]:
    await _call(request, "product", "POST", "/internal/v1/products/lookup", {"ids": [PRODUCT["id"]] * 2})
    return CART


@post("/v1/cart/items", status_code=HTTP_200_OK)
async def add_to_cart(request: Request[Any, Any, Any], data: dict[str, Any]) -> dict[str, Any]:
    await _call(request, "product", "POST", "/internal/v1/products/lookup", {"ids": [data["product_id"]]})
    return CART


@get("/internal/v1/carts/{user_id:str}", sync_to_thread=False)
def cart_lines(user_id: str) -> dict[str, Any]:
    return {"id": CART["id"], "items": [{"product_id": PRODUCT["id"], "quantity": 1}] * 2}


@post("/internal/v1/carts/{user_id:str}/remove-ordered", status_code=HTTP_200_OK, sync_to_thread=False)
def remove_ordered(user_id: str, data: dict[str, Any]) -> dict[str, bool]:
    return {"removed": True}


# User: the order service confirms the customer is active.
@get("/internal/v1/users/{user_id:str}", sync_to_thread=False)
def account(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "email": "shopper@example.com", "active": True, "phone": None}


# Inventory: reserve, then pin once paid.
@post("/internal/v1/reservations", status_code=HTTP_201_CREATED, sync_to_thread=False)
def reserve(data: dict[str, Any]) -> dict[str, Any]:
    return {"id": data["id"], "status": "held", "lines": data["lines"]}


@post("/internal/v1/reservations/{reservation_id:str}/pin", status_code=HTTP_200_OK, sync_to_thread=False)
def pin(reservation_id: str) -> dict[str, Any]:
    return {"id": reservation_id, "status": "held", "pinned": True}


# Payment: a charge calls the payment provider once; the provider's webhook comes back later.
@post("/internal/v1/payments", status_code=HTTP_201_CREATED)
async def charge(request: Request[Any, Any, Any], data: dict[str, Any]) -> dict[str, Any]:
    intent = await _call(request, "stripe", "POST", "/v1/payment_intents", {"amount": data["amount_cents"]})
    return {"id": str(uuid.uuid4()), "status": "succeeded", "provider_id": intent["id"]}


@post("/v1/payments/webhooks/stripe", status_code=HTTP_200_OK, sync_to_thread=False)
def webhook(data: dict[str, Any]) -> dict[str, bool]:
    return {"received": True}


# The payment provider (not a platform process): answers a payment intent.
@post("/v1/payment_intents", status_code=HTTP_200_OK, sync_to_thread=False)
def payment_intent(data: dict[str, Any]) -> dict[str, Any]:
    return {"id": "pi_" + uuid.uuid4().hex, "status": "succeeded", "amount": data["amount"]}


# Order: the design's sequence, seven calls out.
@post("/v1/orders", status_code=HTTP_201_CREATED)
async def checkout(request: Request[Any, Any, Any], data: dict[str, Any]) -> dict[str, Any]:
    user_id, reservation_id = str(uuid.uuid4()), str(uuid.uuid4())
    await _call(request, "user", "GET", f"/internal/v1/users/{user_id}")
    cart = await _call(request, "cart", "GET", f"/internal/v1/carts/{user_id}")
    await _call(request, "product", "POST", "/internal/v1/products/lookup",
                {"ids": [line["product_id"] for line in cart["items"]]})
    await _call(request, "inventory", "POST", "/internal/v1/reservations",
                {"id": reservation_id, "lines": cart["items"], "ttl_seconds": 900})
    await _call(request, "payment", "POST", "/internal/v1/payments", {"amount_cents": 3998, "currency": "EUR"})
    await _call(request, "inventory", "POST", f"/internal/v1/reservations/{reservation_id}/pin")
    await _call(request, "cart", "POST", f"/internal/v1/carts/{user_id}/remove-ordered", {"lines": cart["items"]})
    return ORDER


@contextlib.asynccontextmanager
async def _session(app: Litestar) -> AsyncIterator[None]:
    # The same session shape the services use (commerce_platform.http_client.new_session).
    connector = aiohttp.TCPConnector(limit=100, limit_per_host=100, ttl_dns_cache=60)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                     skip_auto_headers=("User-Agent",)) as session:
        app.state.session = session
        app.state.peers = json.loads(os.environ.get(PEERS_ENV, "{}"))
        yield


def create_hop_app() -> Litestar:
    return Litestar(
        route_handlers=[health, product_page, product_list, search, lookup, view_cart, add_to_cart, cart_lines,
                        remove_ordered, account, reserve, pin, charge, webhook, payment_intent, checkout],
        lifespan=[_session], debug=False,
    )
