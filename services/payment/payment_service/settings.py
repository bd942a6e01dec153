"""The payment service's settings: the platform's, plus how to reach Stripe and verify its webhooks."""

from __future__ import annotations

from commerce_platform.settings import PlatformSettings


class PaymentSettings(PlatformSettings, kw_only=True, frozen=True):
    """Field `foo_bar` comes from the environment variable `FOO_BAR`."""

    stripe_secret_key: str
    # Unset means real Stripe; the local stack points it at its Stripe emulator.
    stripe_api_base: str | None = None
    # The endpoint's signing secret (whsec_...). With the emulator and no secret set, the service makes
    # one up at start and registers it there; with real Stripe it comes from the dashboard.
    stripe_webhook_secret: str | None = None
    # Where the emulator should deliver events; defaults to this process on loopback.
    stripe_webhook_url: str | None = None
    # A checkout waits for the charge, so a slow provider must fail fast (503) rather than hang it. This
    # is the budget of a whole provider operation (the SDK's retries and a charge's follow-up calls
    # included), not of one HTTP request: a charge answers within it plus a few ms of database work,
    # under the order service's 5 s call timeout, so the caller hears our 503, not its own timeout. A
    # repeat of a charge still in flight waits at most services.IN_FLIGHT_WAIT_SECONDS (1 s) on top;
    # the order service repeats only after an answer, so its repeats do not wait.
    stripe_timeout_seconds: float = 4.0
    # The SDK's retries (connection failures, 409, 5xx) happen inside that budget, so they only help when
    # a failure was quick (a reset keep-alive connection); every write carries an idempotency key.
    stripe_max_network_retries: int = 1
