"""What `GET /v1/search` takes and returns: the validated criteria and the result page with facets."""

from __future__ import annotations

import enum
from uuid import UUID

from msgspec import Struct


class SortOrder(enum.StrEnum):
    """`relevance` needs a query; without one it orders like `newest`."""

    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"


class MatchMode(enum.StrEnum):
    """How the items matched the query text."""

    FULL_TEXT = "fulltext"
    # Full text found nothing, so names were compared by trigram word similarity (typo tolerance).
    FUZZY = "fuzzy"


class SearchCriteria(Struct, frozen=True, kw_only=True):
    """One search, already validated: every field here is safe to bind into the statement."""

    text: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    # Attribute name -> accepted values: values of one name are alternatives, names all must match.
    attributes: dict[str, list[str]] = {}
    sort: SortOrder = SortOrder.NEWEST
    page: int = 1
    page_size: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class SearchItem(Struct, kw_only=True):
    product_id: UUID
    sku: str
    name: str
    price_cents: int
    currency: str
    category_slug: str
    in_stock: bool
    available: int
    # Full text: ts_rank_cd normalised to 0..1; typo fallback: word similarity 0..1; no query: null.
    score: float | None


class CategoryFacet(Struct, kw_only=True):
    slug: str
    count: int


class PriceBandFacet(Struct, kw_only=True):
    """Products priced in [min_cents, max_cents); the last band has no upper bound (null)."""

    min_cents: int
    max_cents: int | None
    count: int


class SearchFacets(Struct, kw_only=True):
    """Counts over the whole filtered result set (or its counted sample, see `total_is_lower_bound`),
    not just the page.

    `categories`: without a `category` filter, the top-level categories; with one, its direct
    children (products filed directly in the filtered category belong to no child and are not listed).
    """

    categories: list[CategoryFacet]
    price_bands: list[PriceBandFacet]


class SearchResults(Struct, kw_only=True):
    items: list[SearchItem]
    # Exact, unless `total_is_lower_bound`: then at least this many matched (counting stopped there).
    total: int
    page: int
    page_size: int
    # Over all matches, or, when `total_is_lower_bound`, over the first `total` of them only.
    facets: SearchFacets
    # Null without a query text.
    matched_by: MatchMode | None = None
    # True when more than `total` products matched and counting stopped (search, not browsing).
    total_is_lower_bound: bool = False
