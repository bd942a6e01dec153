"""The search statements: one round trip returns the page, the total and both facets.

Two shapes, chosen by what the request filters on (plans and timings in the service README):
- Browsing (no text, price range or attribute filter; category and in-stock allowed): the total
  and facets are sums over `search_facet_count`, a few hundred rows a trigger keeps exact, and the
  page walks the price or date index and stops after one page.
- Searching: `matched` (MATERIALIZED) selects the filtered rows once, through whichever GIN index
  fits (full text, trigram, category path, attributes), keeping narrow columns only: id, price
  band, the facet's category, the sort key (the score, for relevance order). Materialising fences
  the planner off walking the price or date index "until 20 rows match", fast for common words and
  a full scan for rare ones. The page is a top-N heap sort of it; only the page's rows are joined
  back for display columns (and, outside relevance order, scored). Total and facets aggregate at
  most `MAX_COUNTED_MATCHES` rows of the same `matched` (see below).
Predicates are added only for the filters given, so each combination gets its own plan instead of
one generic plan full of `$n IS NULL OR ...`.

Bounded counting: a common word matches thousands of products, and the total and both facets
should not grow with them. Searching counts the first `MAX_COUNTED_MATCHES` rows of `matched` only
(one more tells whether there were more): past that, the response says `total_is_lower_bound`, the
total is that bound ("1,000+"), and the facets count that sample, i.e. the first matches in table
order (roughly the oldest rows), not all of them. The page stays the exact top of *all* matches in
the requested order, so finding and ordering every match (most of a common word's cost, see the
README's measurements) remains. Browsing counts exactly: its numbers come from
`search_facet_count`, whatever the catalog's size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from search_service.price_bands import price_band_facets
from search_service.schemas import (
    CategoryFacet,
    MatchMode,
    SearchCriteria,
    SearchFacets,
    SearchItem,
    SearchResults,
    SortOrder,
)

# Searching counts (total and facets) at most this many matches; see the module docstring.
MAX_COUNTED_MATCHES = 1000
# Enough for any real category level; bounds the payload if a tree grows wide.
MAX_CATEGORY_FACETS = 50
# websearch_to_tsquery and the stored document both use this configuration (see the migration).
TEXT_SEARCH_CONFIG = "english"
# ts_rank_cd normalisation 32: rank / (rank + 1), so scores fall in 0..1 whatever the document length.
RANK_NORMALISATION = 32

ITEM_JSON = """json_build_object(
    'product_id', p.product_id, 'sku', p.sku, 'name', p.name, 'price_cents', p.price_cents,
    'currency', p.currency, 'category_slug', p.category_slug, 'in_stock', p.in_stock,
    'available', p.available, 'score', {score})"""

_items_decoder = msgspec.json.Decoder(list[SearchItem] | None)
_categories_decoder = msgspec.json.Decoder(list[tuple[str, int]] | None)
_bands_decoder = msgspec.json.Decoder(list[tuple[int, int]] | None)


@dataclass(frozen=True, slots=True)
class SearchStatement:
    sql: str
    args: tuple[Any, ...]


@dataclass(slots=True)
class _Parameters:
    """Positional parameters in order of use, each with an explicit cast so asyncpg need not guess."""

    values: list[Any] = field(default_factory=list)

    def bind(self, value: Any, sql_type: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}"


@dataclass(slots=True)
class _Predicates:
    """The WHERE clauses and derived expressions of one request, over a table aliased `p`.

    Category and in-stock clauses read columns that `search_product` and `search_facet_count`
    share, so browsing applies the same clauses to the counts.
    """

    params: _Parameters
    shared: list[str] = field(default_factory=list)
    product_only: list[str] = field(default_factory=list)
    facet_category: str = "p.category_path[1]"
    query_source: str = ""
    score: str | None = None


def attribute_candidates(name: str, values: list[str]) -> list[str]:
    """JSON objects any of which `attributes @>` may contain for `name` to match one of `values`.

    Query strings are text, but attributes keep their JSON types, so "42" also tries the number 42
    and "true" the boolean.
    """
    candidates: list[str] = []
    for value in values:
        candidates.append(json.dumps({name: value}))
        typed = _json_scalar(value)
        if typed is not None:
            candidates.append(json.dumps({name: typed}))
    return candidates


def _json_scalar(value: str) -> bool | int | float | None:
    if value in ("true", "false"):
        return value == "true"
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):  # NaN and infinities are not JSON
        return None
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def is_browse(criteria: SearchCriteria) -> bool:
    """Whether the facet counts table can answer the total and facets of `criteria`."""
    return (
        criteria.text is None
        and criteria.min_price is None
        and criteria.max_price is None
        and not criteria.attributes
    )


def _predicates(criteria: SearchCriteria, mode: MatchMode | None) -> _Predicates:
    found = _Predicates(_Parameters())
    params = found.params
    if mode is not None and criteria.text is not None:
        text = params.bind(criteria.text, "text")
        if mode is MatchMode.FULL_TEXT:
            found.query_source = (
                f" CROSS JOIN websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', search_unaccent({text})) AS query(terms)"
            )
            found.product_only.append("p.document @@ query.terms")
            found.score = f"ts_rank_cd(p.document, query.terms, {RANK_NORMALISATION})"
        else:
            # `needle <% name`: some run of the name's words is trigram-similar to the query; the
            # threshold is pg_trgm.word_similarity_threshold (set per transaction by the caller).
            found.query_source = f" CROSS JOIN search_unaccent({text}) AS query(needle)"
            found.product_only.append("query.needle <% p.search_name")
            found.score = "word_similarity(query.needle, p.search_name)"
    if criteria.category is not None:
        slug = params.bind(criteria.category, "text")
        found.shared.append(f"p.category_path @> ARRAY[{slug}]")
        found.facet_category = f"p.category_path[array_position(p.category_path, {slug}) + 1]"
    if criteria.in_stock is not None:
        found.shared.append("p.in_stock" if criteria.in_stock else "NOT p.in_stock")
    if criteria.min_price is not None:
        found.product_only.append(f"p.price_cents >= {params.bind(criteria.min_price, 'bigint')}")
    if criteria.max_price is not None:
        found.product_only.append(f"p.price_cents <= {params.bind(criteria.max_price, 'bigint')}")
    for name, values in sorted(criteria.attributes.items()):
        candidates = params.bind(attribute_candidates(name, values), "jsonb[]")
        found.product_only.append(f"p.attributes @> ANY({candidates})")
    return found


def _sort(criteria: SearchCriteria, score: str | None) -> tuple[str, str]:
    """(sort key expression, direction). Ties break on product_id in the same direction, so a
    browse page is one backward or forward walk of the (price_cents, product_id) or
    (created_at, product_id) index."""
    if score is not None and criteria.sort is SortOrder.RELEVANCE:
        return score, "DESC"
    if criteria.sort is SortOrder.PRICE_ASC:
        return "p.price_cents", "ASC"
    if criteria.sort is SortOrder.PRICE_DESC:
        return "p.price_cents", "DESC"
    return "p.created_at", "DESC"


def _facets_sql(source: str, count: str) -> str:
    """Category and price band facets over `source` (rows of facet_category, price_band, `count`)."""
    return f"""
    (SELECT json_agg(json_build_array(facet_category, n) ORDER BY n DESC, facet_category)
     FROM (SELECT facet_category, sum({count})::bigint AS n FROM {source} WHERE facet_category IS NOT NULL
           GROUP BY facet_category ORDER BY n DESC, facet_category LIMIT {MAX_CATEGORY_FACETS}) AS c
    ) AS categories,
    (SELECT json_agg(json_build_array(price_band, n))
     FROM (SELECT price_band, sum({count})::bigint AS n FROM {source} GROUP BY price_band) AS b
    ) AS price_bands"""  # noqa: S608 - fragments of this module only


def search_statement(criteria: SearchCriteria, mode: MatchMode | None) -> SearchStatement:
    """The statement for `criteria`; `mode` says how the text matches (None: there is no text)."""
    if mode is None and is_browse(criteria):
        return _browse_statement(criteria)
    found = _predicates(criteria, mode)
    sort_key, direction = _sort(criteria, found.score)
    by_relevance = sort_key == found.score
    # Relevance order already scored every match; otherwise only the page's rows are scored.
    page_score = "page.sort_key" if by_relevance else (found.score or "NULL")
    limit = found.params.bind(criteria.page_size, "bigint")
    offset = found.params.bind(criteria.offset, "bigint")
    where = " AND ".join(["p.listed", *found.product_only, *found.shared])
    item = ITEM_JSON.format(score=page_score)
    # Only fragments written in this module are interpolated; every request value is a $n parameter.
    sql = f"""
WITH matched AS MATERIALIZED (
    SELECT p.product_id, p.price_band, {found.facet_category} AS facet_category, {sort_key} AS sort_key
    FROM search_product AS p{found.query_source}
    WHERE {where}
),
page AS (
    SELECT product_id, sort_key FROM matched
    ORDER BY sort_key {direction}, product_id {direction} LIMIT {limit} OFFSET {offset}
),
counted AS MATERIALIZED (
    SELECT price_band, facet_category FROM matched LIMIT {MAX_COUNTED_MATCHES + 1}
)
SELECT
    (SELECT count(*) FROM counted) AS total,
    (SELECT json_agg({item} ORDER BY page.sort_key {direction}, page.product_id {direction})
     FROM page JOIN search_product AS p USING (product_id){found.query_source}) AS items,
    {_facets_sql(f"(SELECT * FROM counted LIMIT {MAX_COUNTED_MATCHES}) AS sample", "1")}
"""  # noqa: S608
    return SearchStatement(sql=sql, args=tuple(found.params.values))


def _browse_statement(criteria: SearchCriteria) -> SearchStatement:
    found = _predicates(criteria, None)
    sort_key, direction = _sort(criteria, None)
    limit = found.params.bind(criteria.page_size, "bigint")
    offset = found.params.bind(criteria.offset, "bigint")
    product_where = " AND ".join(["p.listed", *found.shared])
    count_where = " AND ".join(["p.products > 0", *found.shared])
    # `p` is search_facet_count in `counts` and search_product in `page`: the shared clauses fit both.
    sql = f"""
WITH counts AS (
    SELECT {found.facet_category} AS facet_category, p.price_band, p.products
    FROM search_facet_count AS p
    WHERE {count_where}
),
page AS (
    SELECT {ITEM_JSON.format(score="NULL")} AS item, {sort_key} AS sort_key, p.product_id
    FROM search_product AS p
    WHERE {product_where}
    ORDER BY {sort_key} {direction}, p.product_id {direction} LIMIT {limit} OFFSET {offset}
)
SELECT
    (SELECT coalesce(sum(products), 0)::bigint FROM counts) AS total,
    (SELECT json_agg(item ORDER BY sort_key {direction}, product_id {direction}) FROM page) AS items,
    {_facets_sql("counts", "products")}
"""  # noqa: S608
    return SearchStatement(sql=sql, args=tuple(found.params.values))


def results_of(row: asyncpg.Record, criteria: SearchCriteria, mode: MatchMode | None) -> SearchResults:
    """Decode the statement's single row (JSON aggregates) into the response."""
    is_browse_statement = mode is None and is_browse(criteria)
    categories = _categories_decoder.decode(row["categories"] or "null") or []
    bands = _bands_decoder.decode(row["price_bands"] or "null") or []
    # Only the search shape stops counting; browsing's exact sums may well exceed the bound.
    capped = not is_browse_statement and row["total"] > MAX_COUNTED_MATCHES
    return SearchResults(
        items=_items_decoder.decode(row["items"] or "null") or [],
        total=MAX_COUNTED_MATCHES if capped else row["total"],
        total_is_lower_bound=capped,
        page=criteria.page,
        page_size=criteria.page_size,
        facets=SearchFacets(
            categories=[CategoryFacet(slug=slug, count=count) for slug, count in categories],
            price_bands=price_band_facets(bands),
        ),
        matched_by=mode,
    )
