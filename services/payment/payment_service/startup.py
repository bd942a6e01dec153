"""At start: connect the payment provider and the services that use it; with the local Stripe
emulator, have it sign and deliver its webhooks to this process."""

from __future__ import annotations

import secrets

import aiohttp
import structlog
from litestar import Litestar

from commerce_platform.routing import service
from payment_service.providers.stripe_provider import StripeProvider
from payment_service.services import PaymentService
from payment_service.settings import PaymentSettings
from payment_service.webhooks import StripeWebhookHandler

log = structlog.get_logger("payment.startup")

WEBHOOK_PATH = "/v1/payments/webhooks/stripe"
# The emulator keeps one endpoint per id; re-registering on restart replaces it rather than adding one.
EMULATOR_ENDPOINT_ID = "payment-service"


async def connect_provider(app: Litestar) -> None:
    settings: PaymentSettings = app.state["settings"]
    session: aiohttp.ClientSession = app.state["http_session"]
    provider = StripeProvider(
        settings.stripe_secret_key,
        api_base=settings.stripe_api_base,
        session=session,
        timeout_seconds=settings.stripe_timeout_seconds,
        max_network_retries=settings.stripe_max_network_retries,
    )
    payments = PaymentService(app.state["database"], provider)
    app.state["payment_service"] = payments
    app.state["stripe_webhooks"] = StripeWebhookHandler(payments)
    secret = settings.stripe_webhook_secret
    if settings.stripe_api_base:
        secret = secret or "whsec_" + secrets.token_urlsafe(32)
        await _register_with_emulator(session, settings, secret)
    elif not secret:
        log.warning("STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks will be refused")
    app.state["stripe_webhook_secret"] = secret


async def _register_with_emulator(session: aiohttp.ClientSession, settings: PaymentSettings, secret: str) -> None:
    """localstripe's `POST /_config/webhooks/{id}`: where to send events and the secret to sign them with."""
    port = settings.port or service("payment").port
    url = settings.stripe_webhook_url or f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    endpoint = f"{settings.stripe_api_base}/_config/webhooks/{EMULATOR_ENDPOINT_ID}"
    try:
        async with session.post(endpoint, data={"url": url, "secret": secret}) as resp:
            resp.raise_for_status()
    except (aiohttp.ClientError, TimeoutError) as exc:
        # Charges still work without webhooks (the synchronous answer settles them): start anyway.
        log.warning("could not register the webhook endpoint with the Stripe emulator", error=repr(exc))
        return
    log.info("stripe emulator delivers webhooks here", url=url)
