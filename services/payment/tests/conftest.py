"""Fixtures for the payment service's tests: clients for the running service (internal and public),
fresh shoppers from the real user service, the Stripe emulator (also behind a stand-in for real
Stripe's idempotency keys), signed webhook deliveries, and the committed rows of the `payments` schema.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Every test makes its own shoppers, orders ids and idempotency keys, so tests share no
state and run in any order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest
import stripe
from aiohttp import web
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


def in_process_settings(stack: Any, **stripe: Any) -> PaymentSettings:
    """Settings of a second payment service in the test process, on the stack's database, web only,
    with a small pool and no SDK retries; `stripe` says which Stripe it reaches and how."""
    return PaymentSettings(
        database_url=service_database_url(
            stack.admin_database_url, service("payment"), stack.secrets["db_password_payment"]
        ),
        stripe_webhook_secret=stack.secrets["stripe_webhook_secret"],
        stripe_max_network_retries=0,
        run_migrations_on_start=False,
        run_mode="web",
        access_log=False,
        db_pool_size=2,
        db_max_overflow=0,
        **stripe,
    )


@pytest.fixture(scope="module")
async def cut_off_service(stack: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    """A second payment service process on the same database whose provider is unreachable: what the
    real one would do when Stripe is down. Runs in the test process, so it needs no port."""
    settings = in_process_settings(
        stack, stripe_secret_key="sk_test_unreachable", stripe_api_base=f"http://127.0.0.1:{closed_port()}"
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


@dataclass
class IdempotentStripe:
    """The emulator behind what real Stripe does with Idempotency-Key and the emulator does not: a key
    seen before replays its first answer, or is refused (400 idempotency_error) if the parameters
    differ. It can also lose the next answer (the request is carried out, the reply comes after the
    caller gave up) or fail the next request with a 500 that is kept as that key's answer."""

    upstream: str
    answer_delay_seconds: float
    url: str = ""
    lose_next_answer: bool = False
    fail_next: bool = False
    answers: dict[str, tuple[bytes, int, bytes]] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None  # made on the proxy's own loop

    async def handle(self, request: web.Request) -> web.Response:
        if not request.path.startswith("/v1/"):  # e.g. /_config: keep the emulator's webhook setup out of reach
            return web.Response(status=404)
        body = await request.read()
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if key is not None and key in self.answers:
            first_body, status, payload = self.answers[key]
            if first_body != body:
                return _stripe_error(400, "idempotency_error", "Keys for idempotent requests can only be used "
                                     "with the same parameters they were first used with.")
            return web.Response(status=status, body=payload, content_type="application/json")
        if self.fail_next:
            self.fail_next = False
            status, payload = 500, json.dumps({"error": {"type": "api_error", "message": "boom"}}).encode()
        else:
            assert self.session is not None
            headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
            async with self.session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream:
                status, payload = upstream.status, await upstream.read()
        if key is not None:
            self.answers[key] = (body, status, payload)
        if self.lose_next_answer:
            self.lose_next_answer = False
            await asyncio.sleep(self.answer_delay_seconds)
        return web.Response(status=status, body=payload, content_type="application/json")


def _stripe_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": error_type, "message": message}}, status=status)


@contextmanager
def _serving(proxy: IdempotentStripe) -> Iterator[None]:
    """Run the proxy on its own thread and loop: the in-process service under test runs in
    AsyncTestClient's portal thread, which blocks the test's loop while a request is handled."""
    loop = asyncio.new_event_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    proxy.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3.0)

    async def start() -> None:
        proxy.session = aiohttp.ClientSession()
        await runner.setup()
        await web.SockSite(runner, sock).start()

    async def stop() -> None:
        await runner.cleanup()
        if proxy.session is not None:
            await proxy.session.close()

    thread = threading.Thread(target=loop.run_forever, name="idempotent-stripe", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# The budget of the service behind IdempotentStripe: short, so a lost answer costs the tests little.
REPLAYING_BUDGET_SECONDS = 1.0


@pytest.fixture(scope="module")
def idempotent_stripe(stack: Any) -> Iterator[IdempotentStripe]:
    proxy = IdempotentStripe(stack.stripe_api_base, answer_delay_seconds=REPLAYING_BUDGET_SECONDS + 0.5)
    with _serving(proxy):
        yield proxy


@pytest.fixture
def replaying_stripe(idempotent_stripe: IdempotentStripe) -> IdempotentStripe:
    """IdempotentStripe with no failure armed from an earlier test."""
    idempotent_stripe.lose_next_answer = idempotent_stripe.fail_next = False
    return idempotent_stripe


@pytest.fixture(scope="module")
async def service_via_replaying_stripe(
    stack: Any, idempotent_stripe: IdempotentStripe
) -> AsyncIterator[AsyncTestClient[Any]]:
    """A second payment service process on the same database that reaches Stripe through
    IdempotentStripe. Runs in the test process. Without SDK retries, so a lost answer is the caller's
    503 rather than a retry the SDK makes inside the budget."""
    settings = in_process_settings(
        stack, stripe_secret_key=LOCAL_STRIPE_KEY, stripe_api_base=idempotent_stripe.url,
        stripe_timeout_seconds=REPLAYING_BUDGET_SECONDS,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


ChargeAtProvider = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@pytest.fixture
def charge_at_emulator(stripe_emulator: stripe.StripeClient) -> ChargeAtProvider:
    """The emulator's charge object for one of our succeeded payments, as a charge.refunded event carries it."""

    async def charge(payment: dict[str, Any]) -> dict[str, Any]:
        intent = (await stripe_emulator.v1.payment_intents.retrieve_async(payment["provider_payment_id"])).to_dict()
        latest = intent["latest_charge"]
        if isinstance(latest, str):  # real Stripe answers an id; the emulator the object itself
            latest = (await stripe_emulator.v1.charges.retrieve_async(latest)).to_dict()
        found: dict[str, Any] = latest
        return found

    return charge
