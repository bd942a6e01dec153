"""The search service's settings: the platform's, plus the size of the result cache."""

from __future__ import annotations

from commerce_platform.settings import PlatformSettings


class SearchSettings(PlatformSettings, kw_only=True, frozen=True):
    """Field `foo_bar` comes from the environment variable `FOO_BAR`."""

    # Distinct searches remembered per process (see result_cache.py); 0 turns the cache off.
    search_result_cache_size: int = 2048
