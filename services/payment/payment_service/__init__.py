"""Payments through a provider interface (Stripe PaymentIntents), refunds and signed webhooks."""
