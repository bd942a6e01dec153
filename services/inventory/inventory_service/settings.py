"""The inventory service's settings: the platform's, plus how reservations expire and are swept."""

from __future__ import annotations

from commerce_platform.settings import PlatformSettings


class InventorySettings(PlatformSettings, kw_only=True, frozen=True):
    """Field `foo_bar` comes from the environment variable `FOO_BAR`."""

    # Expired holds stop counting at once (reads and reservations ignore them); the sweeper only
    # tidies up their rows and announces the freed stock, so a second's delay costs nothing.
    reservation_sweep_interval_seconds: float = 1.0
    # Reservations expired per transaction: bounds how many stock rows one sweep locks at once.
    reservation_sweep_batch_size: int = 50
