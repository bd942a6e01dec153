"""The search use case: check criteria, reuse a still-valid cached result, else full text, then trigrams."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from commerce_platform.database import Database
from commerce_platform.errors import BadRequest
from search_service.queries import results_of, search_statement
from search_service.result_cache import ResultCache
from search_service.schemas import MatchMode, SearchCriteria, SearchResults, SortOrder

MAX_PAGE_SIZE = 100
# The product service's price ceiling: a filter above it matches nothing and would overflow bigint.
MAX_PRICE_CENTS = 999_999_999_999
# Like Elasticsearch's max_result_window: deep pages cost a sort of everything before them, and
# nobody reads page 500; narrower filters are the way there.
MAX_RESULT_WINDOW = 10_000
MAX_QUERY_LENGTH = 200
MAX_ATTRIBUTE_FILTERS = 10
# pg_trgm's default (0.6) misses one-letter slips in short words ("jaket" scores 0.44 against
# "Rain Jacket"); 0.4 catches them, and relevance order puts the closest names first.
FUZZY_WORD_SIMILARITY = 0.4


def search_criteria(
    *,
    q: str | None,
    category: str | None,
    min_price: int | None,
    max_price: int | None,
    in_stock: bool | None,
    attributes: Sequence[str],
    sort: SortOrder | None,
    page: int,
    page_size: int,
) -> SearchCriteria:
    """Check what the query string's types cannot say on their own; raise BadRequest otherwise."""
    text = q.strip() if q else None
    if text is not None and len(text) > MAX_QUERY_LENGTH:
        raise BadRequest(f"q: at most {MAX_QUERY_LENGTH} characters")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise BadRequest("min_price must not be greater than max_price")
    if page * page_size > MAX_RESULT_WINDOW:
        raise BadRequest(f"page * page_size must not exceed {MAX_RESULT_WINDOW}; narrow the search instead")
    return SearchCriteria(
        text=text or None,
        category=category.strip().lower() if category and category.strip() else None,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        attributes=attribute_filters(attributes),
        sort=sort or (SortOrder.RELEVANCE if text else SortOrder.NEWEST),
        page=page,
        page_size=page_size,
    )


def attribute_filters(raw: Sequence[str]) -> dict[str, list[str]]:
    """`["color:red", "color:blue", "size:42"]` -> `{"color": ["red", "blue"], "size": ["42"]}`."""
    filters: dict[str, list[str]] = {}
    for item in raw:
        name, separator, value = item.partition(":")
        name = name.strip()
        if not separator or not name:
            raise BadRequest(f"attributes: {item!r} is not name:value")
        filters.setdefault(name, []).append(value.strip())
    if len(filters) > MAX_ATTRIBUTE_FILTERS:
        raise BadRequest(f"attributes: at most {MAX_ATTRIBUTE_FILTERS} different attribute names")
    return filters


async def search_catalog(
    database: Database, criteria: SearchCriteria, cache: ResultCache | None = None
) -> SearchResults:
    """Results for `criteria`: from `cache` if nothing they depend on changed since they were
    computed, else full text first and, only if it finds nothing, names by trigram similarity."""
    if cache is None:
        return await _search(database, criteria)
    key = ResultCache.key(criteria)
    # Read before the statements run: `put` checks the changes heard since this number, so results
    # that may predate a change are never stored after it is heard (see result_cache.py).
    generation = cache.generation.current
    cached = cache.get(key, generation)
    if cached is not None:
        return cached
    results = await _search(database, criteria)
    cache.put(key, generation, results)
    return results


async def _search(database: Database, criteria: SearchCriteria) -> SearchResults:
    if criteria.text is None:
        return await _run(database, criteria, None)
    results = await _run(database, criteria, MatchMode.FULL_TEXT)
    if results.total > 0:
        return results
    return await _run(database, criteria, MatchMode.FUZZY)


async def _run(database: Database, criteria: SearchCriteria, mode: MatchMode | None) -> SearchResults:
    statement = search_statement(criteria, mode)
    if mode is not MatchMode.FUZZY:
        row = await database.fetchrow(statement.sql, *statement.args)
    else:
        row = await _fetch_fuzzy(database, statement.sql, statement.args)
    assert row is not None  # an aggregate-only SELECT always returns one row
    return results_of(row, criteria, mode)


async def _fetch_fuzzy(database: Database, sql: str, args: tuple[object, ...]) -> asyncpg.Record | None:
    # The `<%` operator reads its threshold from a setting; SET LOCAL keeps it to this transaction,
    # so the pooled connection goes back unchanged.
    pool = await database.read_pool()
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute(f"SET LOCAL pg_trgm.word_similarity_threshold = {FUZZY_WORD_SIMILARITY}")
        return await connection.fetchrow(sql, *args)
