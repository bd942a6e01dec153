"""The fixed price bands of the price facet, in minor units, whatever the currency."""

from __future__ import annotations

from collections.abc import Iterable

from search_service.schemas import PriceBandFacet

# Lower bounds of bands 1..5; band 0 is everything below 1000. The read model stores each product's
# band number (`price_band`, width_bucket over the same bounds in migration 0001); this module only
# turns band numbers back into edges for the response.
PRICE_BAND_BOUNDS: tuple[int, ...] = (1_000, 2_500, 5_000, 10_000, 25_000)


def price_band_facets(counts: Iterable[tuple[int, int]]) -> list[PriceBandFacet]:
    """Every band in price order, from (band number, count) pairs; bands nobody falls in count 0."""
    by_band = dict(counts)
    edges = (0, *PRICE_BAND_BOUNDS)
    return [
        PriceBandFacet(
            min_cents=low,
            max_cents=edges[band + 1] if band + 1 < len(edges) else None,
            count=by_band.get(band, 0),
        )
        for band, low in enumerate(edges)
    ]

