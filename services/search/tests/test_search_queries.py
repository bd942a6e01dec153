"""`GET /v1/search` on an event-fed catalog: full text, typo fallback, filters, sorts, pages, facets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


@dataclass
class Shop:
    """The catalog the tests query. `tag` is part of every category slug, so `q=tag` (or a category
    filter) selects exactly this catalog, whatever else the shared read model holds."""

    tag: str
    ids: dict[str, uuid.UUID]

    def slug(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def names(self, body: dict[str, Any]) -> list[str]:
        """The products of a response, by the short names the fixture gave them, in response order."""
        by_id = {str(product_id): name for name, product_id in self.ids.items()}
        return [by_id[item["product_id"]] for item in body["items"]]


@pytest.fixture(scope="module")
async def shop(read_model: Any, events: Any, new_token: Any) -> Shop:
    tag = new_token()
    footwear, clothing, home = f"{tag}-footwear", f"{tag}-clothing", f"{tag}-home"
    running, boots, jackets = f"{tag}-running", f"{tag}-boots", f"{tag}-jackets"
    start = datetime(2026, 3, 1, tzinfo=UTC)
    # name -> (product name, category path, price, available, attributes, description)
    catalog: dict[str, tuple[str, list[str], int, int, dict[str, Any], str]] = {
        "trail": ("Trail Running Shoes", [footwear, running], 8999, 5, {"color": "red", "size": 42}, "Grippy"),
        "road": ("Road Running Shoes", [footwear, running], 12999, 0, {"color": "blue", "size": 43}, "Light"),
        "boots": ("Leather Hiking Boots", [footwear, boots], 15999, 2, {"color": "brown"}, "Waterproof"),
        "jacket": ("Rain Jacket", [clothing, jackets], 4999, 10, {"color": "red"}, "Good for running in the rain"),
        "socks": ("Wool Socks", [clothing], 999, 3, {"color": "grey", "size": "M"}, "Warm"),
        "torch": ("Crème Brûlée Torch", [home], 2499, 1, {"fuel": "butane"}, "Caramelises sugar"),
    }
    ids = {name: uuid.uuid4() for name in [*catalog, "gone", "ghost"]}
    for position, (key, (name, path, price, available, attributes, description)) in enumerate(catalog.items()):
        await read_model.apply(
            events.created(
                ids[key],
                name=name,
                category_path=path,
                price_cents=price,
                attributes=attributes,
                description=description,
                created_at=start + timedelta(days=position),
            ),
            events.stock(ids[key], on_hand=available, revision=1),
        )
    # Never visible: a deleted product that would match most queries, and stock without a product.
    await read_model.apply(
        events.created(ids["gone"], name="Running Shoes Prototype", category_path=[footwear, running]),
        events.deleted(ids["gone"], revision=2),
        events.stock(ids["ghost"], on_hand=4, revision=1),
    )
    return Shop(tag=tag, ids=ids)


# -- full text ------------------------------------------------------------------------------------
async def test_full_text_ranks_name_matches_above_description_matches(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q=f"{shop.tag} running")

    assert body["matched_by"] == "fulltext"
    assert body["total"] == 3
    assert set(shop.names(body)[:2]) == {"trail", "road"}
    assert shop.names(body)[2] == "jacket"  # "running" only in its description
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score <= 1 for score in scores)
    assert scores[1] > scores[2]


async def test_web_search_syntax_supports_phrases_and_exclusions(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q=f'{shop.tag} "running shoes" -road')

    assert shop.names(body) == ["trail"]


async def test_accents_are_ignored_on_both_sides(search_api: Any, shop: Shop) -> None:
    plain = await search_api.search(q=f"{shop.tag} creme brulee")
    accented = await search_api.search(q=f"{shop.tag} crème brûlée")

    assert shop.names(plain) == shop.names(accented) == ["torch"]


async def test_a_typo_falls_back_to_trigram_similarity_on_names(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q="runnign shoes", category=shop.slug("footwear"))

    assert body["matched_by"] == "fuzzy"
    assert set(shop.names(body)) == {"trail", "road"}
    assert body["total"] == 2
    assert all(0 < item["score"] <= 1 for item in body["items"])


async def test_no_fallback_when_full_text_finds_something(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q="running shoes", category=shop.slug("footwear"))

    assert body["matched_by"] == "fulltext"
    assert set(shop.names(body)) == {"trail", "road"}


async def test_nothing_similar_finds_nothing(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q="xylophone", category=shop.slug("footwear"))

    assert (body["total"], body["items"], body["matched_by"]) == (0, [], "fuzzy")
    assert body["facets"]["categories"] == []
    assert [band["count"] for band in body["facets"]["price_bands"]] == [0, 0, 0, 0, 0, 0]


# -- filters --------------------------------------------------------------------------------------
async def test_category_includes_subcategories_and_facets_its_children(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(category=shop.slug("footwear"))

    assert body["total"] == 3
    assert set(shop.names(body)) == {"trail", "road", "boots"}
    assert body["facets"]["categories"] == [
        {"slug": shop.slug("running"), "count": 2},
        {"slug": shop.slug("boots"), "count": 1},
    ]


async def test_products_filed_directly_in_the_category_belong_to_no_child(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(category=shop.slug("clothing"))

    assert set(shop.names(body)) == {"jacket", "socks"}
    assert body["facets"]["categories"] == [{"slug": shop.slug("jackets"), "count": 1}]


async def test_without_a_category_filter_facets_count_top_level_categories(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q=shop.tag)

    assert body["total"] == 6
    assert body["facets"]["categories"] == [
        {"slug": shop.slug("footwear"), "count": 3},
        {"slug": shop.slug("clothing"), "count": 2},
        {"slug": shop.slug("home"), "count": 1},
    ]


async def test_price_band_facets_count_the_whole_filtered_set(search_api: Any, shop: Shop) -> None:
    everything = await search_api.search(q=shop.tag, page_size=1)
    footwear = await search_api.search(category=shop.slug("footwear"))

    bands = everything["facets"]["price_bands"]
    assert [(band["min_cents"], band["max_cents"]) for band in bands] == [
        (0, 1000), (1000, 2500), (2500, 5000), (5000, 10000), (10000, 25000), (25000, None),
    ]
    # 999 | 2499 | 4999 | 8999 | 12999, 15999 | -
    assert [band["count"] for band in bands] == [1, 1, 1, 1, 2, 0]
    assert [band["count"] for band in footwear["facets"]["price_bands"]] == [0, 0, 0, 1, 2, 0]


async def test_price_range_bounds_are_inclusive(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q=shop.tag, min_price=4999, max_price=12999, sort="price_asc")

    assert shop.names(body) == ["jacket", "trail", "road"]
    assert body["total"] == 3


async def test_in_stock_filter_both_ways(search_api: Any, shop: Shop) -> None:
    available = await search_api.search(q=shop.tag, in_stock=True)
    sold_out = await search_api.search(q=shop.tag, in_stock=False)

    assert set(shop.names(available)) == {"trail", "boots", "jacket", "socks", "torch"}
    assert shop.names(sold_out) == ["road"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["color:red"], {"trail", "jacket"}),
        (["color:red", "size:42"], {"trail"}),  # names combine with AND; "42" matches the number 42
        (["color:red", "color:blue"], {"trail", "road", "jacket"}),  # values of one name with OR
        (["size:M"], {"socks"}),
        (["color:purple"], set()),
    ],
)
async def test_attribute_filters(search_api: Any, shop: Shop, filters: list[str], expected: set[str]) -> None:
    reply = await search_api.get([("q", shop.tag)] + [("attributes", f) for f in filters])

    body = reply.ok()
    assert set(shop.names(body)) == expected
    assert body["total"] == len(expected)


async def test_items_carry_price_category_and_stock(search_api: Any, shop: Shop) -> None:
    body = await search_api.search(q=f"{shop.tag} running shoes", sort="price_asc")

    trail, road = body["items"]
    assert set(trail) == {
        "product_id", "sku", "name", "price_cents", "currency", "category_slug", "in_stock", "available", "score",
    }
    assert (trail["name"], trail["price_cents"], trail["currency"]) == ("Trail Running Shoes", 8999, "EUR")
    assert trail["category_slug"] == shop.slug("running")
    assert (trail["in_stock"], trail["available"]) == (True, 5)
    assert (road["in_stock"], road["available"]) == (False, 0)
    assert trail["score"] > 0  # scored even when not sorted by relevance


# -- sorting and pages ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price_asc", ["socks", "torch", "jacket", "trail", "road", "boots"]),
        ("price_desc", ["boots", "road", "trail", "jacket", "torch", "socks"]),
        ("newest", ["torch", "socks", "jacket", "boots", "road", "trail"]),
    ],
)
async def test_sort_orders(search_api: Any, shop: Shop, sort: str, expected: list[str]) -> None:
    body = await search_api.search(q=shop.tag, sort=sort)

    assert shop.names(body) == expected


async def test_without_a_query_results_are_newest_first_and_unscored(search_api: Any, shop: Shop) -> None:
    default = await search_api.search(category=shop.slug("footwear"))
    relevance = await search_api.search(category=shop.slug("footwear"), sort="relevance")

    assert shop.names(default) == shop.names(relevance) == ["boots", "road", "trail"]
    assert {item["score"] for item in default["items"]} == {None}
    assert default["matched_by"] is None


async def test_pages_partition_the_results_and_keep_the_total(search_api: Any, shop: Shop) -> None:
    pages = [await search_api.search(q=shop.tag, sort="price_asc", page=n, page_size=4) for n in (1, 2, 3)]

    assert [page["total"] for page in pages] == [6, 6, 6]
    assert [(page["page"], page["page_size"]) for page in pages] == [(1, 4), (2, 4), (3, 4)]
    assert [shop.names(page) for page in pages] == [
        ["socks", "torch", "jacket", "trail"],
        ["road", "boots"],
        [],
    ]
    assert pages[2]["facets"] == pages[0]["facets"]  # facets describe all matches, not the page


@pytest.mark.parametrize("in_stock", [None, True, False])
async def test_browsing_counts_agree_with_counting_every_match(search_api: Any, shop: Shop, in_stock: Any) -> None:
    # Without q, price or attribute filters the total and facets come from the trigger-kept counts;
    # min_price=0 changes no result but forces the path that counts the matching rows themselves.
    filters: dict[str, Any] = {"category": shop.slug("footwear"), "sort": "price_desc"}
    if in_stock is not None:
        filters["in_stock"] = in_stock
    browsed = await search_api.search(**filters)
    counted = await search_api.search(**filters, min_price=0)

    assert browsed == counted
    assert browsed["total"] == {None: 3, True: 2, False: 1}[in_stock]
