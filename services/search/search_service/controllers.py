"""`GET /v1/search`: full-text product search with typo tolerance, filters, sorting and facets."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from commerce_platform.database import Database
from search_service.result_cache import ResultCache
from search_service.schemas import SearchResults, SortOrder
from search_service.services import MAX_PAGE_SIZE, MAX_PRICE_CENTS, search_catalog, search_criteria


class SearchController(Controller):
    path = "/v1/search"
    tags = ["search"]

    @get("", operation_id="searchProducts", cache=False)
    async def search(
        self,
        database: Database,
        result_cache: ResultCache,
        q: Annotated[
            str | None,
            Parameter(description="words to find; quotes, `or` and `-word` work as on web search engines"),
        ] = None,
        category: Annotated[
            str | None, Parameter(description="category slug; its subcategories are included")
        ] = None,
        min_price: Annotated[
            int | None, Parameter(ge=0, le=MAX_PRICE_CENTS, description="lowest price in minor units")
        ] = None,
        max_price: Annotated[
            int | None, Parameter(ge=0, le=MAX_PRICE_CENTS, description="highest price in minor units")
        ] = None,
        in_stock: Annotated[
            bool | None, Parameter(description="true: only available products; false: only unavailable")
        ] = None,
        attributes: Annotated[
            list[str] | None,
            Parameter(
                description="`name:value`, repeatable; values of one name are alternatives, names all apply",
            ),
        ] = None,
        sort: Annotated[
            SortOrder | None, Parameter(description="default: relevance with `q`, newest without")
        ] = None,
        page: Annotated[int, Parameter(ge=1, description="1-based page number")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> SearchResults:
        """Live products matching the query and filters, one page at a time, with the total and
        facet counts (top-level or child categories, fixed price bands) over all matches."""
        criteria = search_criteria(
            q=q,
            category=category,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            attributes=attributes or [],
            sort=sort,
            page=page,
            page_size=page_size,
        )
        return await search_catalog(database, criteria, result_cache)
