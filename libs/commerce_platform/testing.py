"""Helpers for tests that drive the running stack over HTTP: users, tokens, catalog fixtures.

Shared by every service's tests and the cross-service flows, so each test states its story, not
the plumbing of registering a user or creating a product.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import msgspec

from commerce_platform.database import Database, asyncpg_dsn

DEFAULT_PASSWORD = "Correct-Horse-Battery-9"
PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")


@dataclass(frozen=True)
class Shopper:
    email: str
    password: str
    token: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _post_honouring_retry_after(
    http: aiohttp.ClientSession, url: str, payload: dict[str, Any], *, attempts: int = 20
) -> tuple[int, dict[str, Any]]:
    """POST as a well-behaved client does: a 503 with Retry-After (the user service bounds its password
    hashing queue, so a burst of sign-ups is told to come back) is retried after the wait it asks for."""
    for _ in range(attempts - 1):
        async with http.post(url, json=payload) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
            retry_after = resp.headers.get("Retry-After")
            if resp.status != 503 or retry_after is None:
                return resp.status, body
        await asyncio.sleep(float(retry_after))
    async with http.post(url, json=payload) as resp:
        return resp.status, await resp.json(content_type=None)


async def login(http: aiohttp.ClientSession, user_url: str, email: str, password: str) -> dict[str, Any]:
    status, body = await _post_honouring_retry_after(
        http, f"{user_url}/v1/auth/login", {"email": email, "password": password}
    )
    assert status == 200, body
    return body


async def new_shopper(http: aiohttp.ClientSession, user_url: str, *, name: str = "Test Shopper") -> Shopper:
    """Register a fresh user with a unique email and sign in."""
    email = f"shopper-{uuid.uuid4().hex[:12]}@example.com"
    status, body = await _post_honouring_retry_after(
        http, f"{user_url}/v1/auth/register", {"email": email, "password": DEFAULT_PASSWORD, "full_name": name}
    )
    assert status == 201, body
    tokens = await login(http, user_url, email, DEFAULT_PASSWORD)
    return Shopper(email=email, password=DEFAULT_PASSWORD, token=tokens["access_token"], user_id=body["id"])


async def admin_headers(http: aiohttp.ClientSession, user_url: str, email: str, password: str) -> dict[str, str]:
    tokens = await login(http, user_url, email, password)
    return bearer(tokens["access_token"])


async def create_category(
    http: aiohttp.ClientSession, product_url: str, admin: dict[str, str], *, parent_slug: str | None = None
) -> str:
    slug = f"cat-{uuid.uuid4().hex[:10]}"
    payload: dict[str, Any] = {"slug": slug, "name": slug.replace("-", " ").title()}
    if parent_slug:
        payload["parent_slug"] = parent_slug
    async with http.post(f"{product_url}/v1/categories", json=payload, headers=admin) as resp:
        assert resp.status == 201, await resp.text()
    return slug


async def create_product(
    http: aiohttp.ClientSession,
    product_url: str,
    admin: dict[str, str],
    *,
    category: str,
    price_cents: int = 2500,
    currency: str = "EUR",
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
    payload = {
        "sku": sku,
        "name": name or f"Test product {sku}",
        "description": "A product made by a test.",
        "price_cents": price_cents,
        "currency": currency,
        "category": category,
        "attributes": attributes or {},
    }
    async with http.post(f"{product_url}/v1/products", json=payload, headers=admin) as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
        assert resp.status == 201, body
        return body


async def problem(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with `status` and return its body."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json", resp.content_type
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def set_stock(
    http: aiohttp.ClientSession, inventory_url: str, admin: dict[str, str], product_id: str, on_hand: int
) -> dict[str, Any]:
    async with http.put(f"{inventory_url}/v1/inventory/{product_id}", json={"on_hand": on_hand}, headers=admin) as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
        assert resp.status == 200, body
        return body


async def stock_level(http: aiohttp.ClientSession, inventory_url: str, product_id: str) -> dict[str, Any]:
    async with http.get(f"{inventory_url}/v1/inventory/{product_id}") as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
        assert resp.status == 200, body
        return body


async def add_to_cart(
    http: aiohttp.ClientSession, cart_url: str, shopper: Shopper, product_id: str, quantity: int
) -> dict[str, Any]:
    async with http.post(
        f"{cart_url}/v1/cart/items", json={"product_id": product_id, "quantity": quantity}, headers=shopper.headers
    ) as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
        assert resp.status == 200, body
        return body


SHIPPING_ADDRESS = {
    "full_name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


async def publish_event(stack_aws_endpoint: str, data: Any, *, source: str = "test", event_id: Any = None) -> Any:
    """Publish one event to its SNS topic on the local AWS endpoint, exactly as a relay would."""
    from commerce_platform.aws import AwsClients
    from commerce_platform.devstack.aws_emulator import ACCOUNT_ID, REGION
    from commerce_platform.events.envelope import encode_envelope, new_envelope, topic_of

    envelope = new_envelope(data, source=source, event_id=event_id)
    aws = AwsClients(region=REGION, endpoint_url=stack_aws_endpoint)
    async with aws.client("sns") as sns:
        await sns.publish(
            TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{topic_of(envelope.type)}",
            Message=encode_envelope(envelope).decode(),
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": envelope.type}},
        )
    return envelope


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 20.0) -> T:
    """Poll until `accept(probe())` or the timeout, for effects that travel through SNS/SQS."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `condition()` holds within `timeout` (polled every 20 ms), for in-process effects."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@contextlib.asynccontextmanager
async def schema_database(admin_url: str, schema: str) -> AsyncIterator[Database]:
    """A service's own `Database` for `schema` over the administrator's login: to run the service's
    code (statements, handlers, workers) directly against the real, migrated schema."""
    database = Database(admin_url, schema=schema, application_name=f"{schema}-tests")
    try:
        yield database
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def schema_pool(admin_url: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    """Administrator connections with `schema` as search_path, to look at what a service committed."""
    pool = await asyncpg.create_pool(
        asyncpg_dsn(admin_url), min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    try:
        yield pool
    finally:
        await pool.close()


def mails_to(maildir: Path, recipient: str) -> list[Message]:
    """Messages the local SMTP sink received for `recipient`, oldest first."""
    messages = [email.message_from_bytes(p.read_bytes()) for p in sorted(maildir.glob("*.eml"))]
    return [m for m in messages if m["To"] == recipient]


async def place_order(
    http: aiohttp.ClientSession, base_url: str, shopper: Shopper, *, payment_method: str = "pm_card_visa",
    idempotency_key: str | None = None, **extra_headers: str,
) -> tuple[int, Any]:
    """POST /v1/orders for the shopper's cart; returns (status, body)."""
    headers = {**shopper.headers, "Idempotency-Key": idempotency_key or str(uuid.uuid4()), **extra_headers}
    body = {"shipping_address": SHIPPING_ADDRESS, "payment_method": payment_method}
    async with http.post(f"{base_url}/v1/orders", json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    def ok(self, status: int) -> Any:
        """Assert the status and return the JSON body."""
        assert self.status == status, (self.status, self.body)
        return self.body

    def problem(self, status: int) -> dict[str, Any]:
        """Assert this is an RFC 9457 problem with `status`, and return its body."""
        assert self.status == status, (self.status, self.body)
        assert self.headers.get("content-type", "").startswith(PROBLEM_JSON), self.headers
        assert isinstance(self.body, dict), self.body
        assert self.body["status"] == status
        assert isinstance(self.body["title"], str) and self.body["title"]
        assert isinstance(self.body["detail"], str) and self.body["detail"]
        return self.body


@dataclass
class Client:
    """Talks to one base URL; `token` makes it a signed-in caller."""

    http: aiohttp.ClientSession
    base_url: str
    token: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        query = {k: str(v) for k, v in (params or {}).items()}
        async with self.http.request(
            method, self.base_url + path, json=json, data=data, headers=sent, params=query
        ) as resp:
            raw = await resp.read()
            content_type = resp.headers.get("content-type", "")
            body = msgspec.json.decode(raw) if raw and "json" in content_type else raw
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)

    def as_(self, token: str | None) -> Client:
        return Client(self.http, self.base_url, token)


async def login_token(http: aiohttp.ClientSession, user_url: str, email: str, password: str) -> str:
    """Sign in and return the access token. Each login comes from its own documentation-range
    address, so the user service's per-address throttle never lumps test logins together."""
    # A documentation-range address per login, so the user service's throttle never counts them together.
    headers = {"X-Forwarded-For": "2001:db8::" + secrets.token_hex(2)}
    async with http.post(
        f"{user_url}/v1/auth/login", json={"email": email, "password": password}, headers=headers
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return str(body["access_token"])
