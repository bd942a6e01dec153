"""The cart service's settings: the platform's, plus how often lapsed guest carts are purged."""

from __future__ import annotations

from commerce_platform.settings import PlatformSettings


class CartSettings(PlatformSettings, kw_only=True, frozen=True):
    """Field `foo_bar` comes from the environment variable `FOO_BAR`."""

    # A lapsed guest cart is invisible at once (every read and write checks `expires_at`); the purge
    # only reclaims its rows, so once a minute is plenty.
    guest_cart_purge_interval_seconds: float = 60.0
    # Carts deleted per statement: bounds how many rows (and cascaded lines) one purge locks at once.
    guest_cart_purge_batch_size: int = 500
