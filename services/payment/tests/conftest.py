"""Fixtures for the payment service's tests: clients for the running service (internal and public),
fresh shoppers from the real user service, the Stripe emulator, signed webhook deliveries, and the
committed rows of the `payments` schema.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Every test makes its own shoppers, orders ids and idempotency keys, so tests share no
state and run in any order.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest
import stripe
from litestar.testing import AsyncTestClient

from commerce_platform.database import asyncpg_dsn
from commerce_platform.db_provisioning import service_database_url
from commerce_platform.routing import service
from commerce_platform.testing import Client, Reply
from commerce_platform.testing import login_token as _login
from payment_service.app import create_app
from payment_service.settings import PaymentSettings

PASSWORD = "Correct-Horse-Battery-9"
LOCAL_STRIPE_KEY = "sk_test_localstripe"


@dataclass
class Shopper:
    user_id: str
    token: str


@pytest.fixture
def internal(stack: Any, http: aiohttp.ClientSession) -> Client:
    """The order service's view: the payment service's internal routes, no token."""
    return Client(http, stack.service_url("payment"))


@pytest.fixture
def gateway(stack: Any, http: aiohttp.ClientSession) -> Client:
    """The local gateway: what the ALB routes in AWS."""
    return Client(http, stack.gateway_url)


@pytest.fixture
def public(stack: Any, http: aiohttp.ClientSession) -> Client:
    """An anonymous caller of the payment service's public routes."""
    return Client(http, stack.service_url("payment"))


NewShopper = Callable[[], Awaitable[Shopper]]


@pytest.fixture
def new_shopper(stack: Any, http: aiohttp.ClientSession) -> NewShopper:
    """Register and sign in a fresh customer."""
    user_url = stack.service_url("user")

    async def create() -> Shopper:
        email = f"payer-{uuid.uuid4().hex[:12]}@example.com"
        async with http.post(
            f"{user_url}/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Pat Payer"}
        ) as resp:
            registered = await resp.json()
            assert resp.status == 201, registered
        return Shopper(str(registered["id"]), await _login(http, user_url, email, PASSWORD))

    return create


ChargeBody = Callable[..., dict[str, Any]]


@pytest.fixture
def charge_body() -> ChargeBody:
    """A valid charge request with fresh ids and key; keyword arguments override fields."""

    def body(**overrides: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "order_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "amount_cents": 2599,
            "currency": "EUR",
            "payment_method": "pm_card_visa",
            "idempotency_key": f"checkout-{uuid.uuid4().hex}",
        }
        fields.update(overrides)
        return fields

    return body


@pytest.fixture(scope="session")
async def payments_db(stack: Any) -> AsyncIterator[asyncpg.Connection]:
    """An administrator connection, for looking at what the service committed."""
    conn = await asyncpg.connect(asyncpg_dsn(stack.admin_database_url))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def stripe_emulator(stack: Any) -> AsyncIterator[stripe.StripeClient]:
    """The stack's Stripe emulator, through the official SDK, for checking what the service did there."""
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        LOCAL_STRIPE_KEY, base_addresses={"api": stack.stripe_api_base}, http_client=http_client
    )
    try:
        yield client
    finally:
        await http_client.close_async()


IntentsFor = Callable[[str], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def intents_for(stripe_emulator: stripe.StripeClient) -> IntentsFor:
    """The emulator's PaymentIntents created for one of our payments (found by its metadata)."""

    async def intents(payment_id: str) -> list[dict[str, Any]]:
        found = []
        listing = await stripe_emulator.v1.payment_intents.list_async({"limit": 100})
        async for intent in listing.auto_paging_iter():
            fields = intent.to_dict()
            if (fields.get("metadata") or {}).get("payment_id") == payment_id:
                found.append(fields)
        return found

    return intents


@dataclass
class StripeSigner:
    """Signs event bodies the way Stripe does (Stripe-Signature: t=...,v1=HMAC-SHA256)."""

    secret: str

    def header(self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        at = int(time.time()) if timestamp is None else timestamp
        signed = f"{at}.".encode() + payload
        digest = hmac.new((secret or self.secret).encode(), signed, hashlib.sha256).hexdigest()
        return f"t={at},v1={digest}"


@pytest.fixture(scope="session")
def stripe_signer(stack: Any) -> StripeSigner:
    return StripeSigner(stack.secrets["stripe_webhook_secret"])


def stripe_event(event_type: str, subject: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return msgspec.json.encode(
        {
            "id": event_id or f"evt_test_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2020-08-27",
            "data": {"object": subject},
        }
    )


@pytest.fixture
def make_event() -> Callable[..., bytes]:
    """A Stripe event body: `make_event(type, data_object, event_id=...)`."""
    return stripe_event


DeliverEvent = Callable[[bytes], Awaitable[Reply]]


@pytest.fixture
def deliver(public: Client, stripe_signer: StripeSigner) -> DeliverEvent:
    """POST a correctly signed event to the webhook endpoint, as Stripe would."""

    async def send(payload: bytes) -> Reply:
        return await public.call(
            "POST",
            "/v1/payments/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": stripe_signer.header(payload)},
        )

    return send


History = Callable[[str], Awaitable[list[tuple[str | None, str, str]]]]


@pytest.fixture
def history(payments_db: asyncpg.Connection) -> History:
    """A payment's committed status history as (from, to, source) steps, oldest first."""

    async def steps(payment_id: str) -> list[tuple[str | None, str, str]]:
        rows = await payments_db.fetch(
            "SELECT from_status, to_status, source FROM payments.payment_status_change"
            " WHERE payment_id = $1 ORDER BY at, id",
            uuid.UUID(payment_id),
        )
        return [(r["from_status"], r["to_status"], r["source"]) for r in rows]

    return steps


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def unused_port() -> int:
    return closed_port()


@pytest.fixture(scope="module")
async def cut_off_service(stack: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    """A second payment service process on the same database whose provider is unreachable: what the
    real one would do when Stripe is down. Runs in the test process, so it needs no port."""
    settings = PaymentSettings(
        database_url=service_database_url(
            stack.admin_database_url, service("payment"), stack.secrets["db_password_payment"]
        ),
        stripe_secret_key="sk_test_unreachable",
        stripe_api_base=f"http://127.0.0.1:{closed_port()}",
        stripe_webhook_secret=stack.secrets["stripe_webhook_secret"],
        stripe_max_network_retries=0,
        run_migrations_on_start=False,
        run_mode="web",
        access_log=False,
        db_pool_size=2,
        db_max_overflow=0,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


Stranded = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def stranded_payment(cut_off_service: AsyncTestClient[Any], internal: Client, charge_body: ChargeBody) -> Stranded:
    """A payment left pending because the provider did not answer (as after a timeout): the state in
    which only a retry or a webhook can settle it. Returns the payment as the internal API shows it."""

    async def make(**overrides: Any) -> dict[str, Any]:
        body = charge_body(**overrides)
        reply = await cut_off_service.post("/internal/v1/payments", json=body)
        assert reply.status_code == 503, reply.text
        found = (
            await internal.call("GET", "/internal/v1/payments", params={"idempotency_key": body["idempotency_key"]})
        ).ok(200)
        [payment] = found["items"]
        assert payment["status"] == "pending"
        payment["request"] = body
        return dict(payment)

    return make


WebhookRecord = Callable[..., Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def processed_events(payments_db: asyncpg.Connection) -> WebhookRecord:
    """The webhook events the service recorded as processed for one payment, oldest first."""

    async def rows(payment_id: str) -> list[dict[str, Any]]:
        records = await payments_db.fetch(
            "SELECT id, event_type, outcome FROM payments.processed_webhook_event"
            " WHERE payment_id = $1 ORDER BY received_at",
            uuid.UUID(payment_id),
        )
        return [dict(r) for r in records]

    return rows
