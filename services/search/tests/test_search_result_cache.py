"""The result cache repeats results only while nothing has committed, and evicts least recently used."""

from __future__ import annotations

import uuid
from typing import Any

from commerce_platform.database import Database
from search_service.result_cache import ResultCache
from search_service.schemas import SearchCriteria, SearchFacets, SearchResults
from search_service.services import search_catalog


def _results(total: int) -> SearchResults:
    empty = SearchFacets(categories=[], price_bands=[])
    return SearchResults(items=[], total=total, page=1, page_size=20, facets=empty)


def test_the_least_recently_used_search_leaves_first() -> None:
    cache = ResultCache(capacity=2)
    first, second, third = (ResultCache.key(SearchCriteria(category=slug)) for slug in ("a", "b", "c"))
    cache.put(first, "s", _results(1))
    cache.put(second, "s", _results(2))
    assert cache.get(first) is not None  # first is now the most recently used
    cache.put(third, "s", _results(3))

    assert len(cache) == 2
    assert cache.get(second) is None
    assert [cache.get(k).results.total for k in (first, third)] == [1, 3]  # type: ignore[union-attr]


def test_equal_criteria_share_a_key_and_different_ones_do_not() -> None:
    assert ResultCache.key(SearchCriteria(text="lamp", attributes={"a": ["1"], "b": ["2"]})) == ResultCache.key(
        SearchCriteria(text="lamp", attributes={"b": ["2"], "a": ["1"]})
    )
    assert ResultCache.key(SearchCriteria(text="lamp", page=1)) != ResultCache.key(SearchCriteria(text="lamp", page=2))


async def test_a_repeated_search_is_served_from_the_cache_until_something_commits(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    product_id = uuid.uuid4()
    await read_model.apply(events.created(product_id, category_path=[category], price_cents=500))
    cache = ResultCache(capacity=16)
    criteria = SearchCriteria(category=category)

    # Other suites' services may commit in the background; a quiet moment comes within a few tries.
    served_from_cache = False
    for _ in range(20):
        first = await search_catalog(search_database, criteria, cache)
        if await search_catalog(search_database, criteria, cache) is first:
            served_from_cache = True
            break
    assert served_from_cache
    assert [item.price_cents for item in first.items] == [500]

    await read_model.apply(events.updated(product_id, revision=2, category_path=[category], price_cents=700))
    after = await search_catalog(search_database, criteria, cache)

    assert after is not first
    assert [item.price_cents for item in after.items] == [700]
