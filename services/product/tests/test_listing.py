"""The public product list: pages with a total, sort orders, and every filter, alone and combined."""

from __future__ import annotations

import uuid
from typing import Any


async def _ids(public: Any, **params: Any) -> list[str]:
    page = (await public.call("GET", "/v1/products", params=params)).ok(200)
    return [item["id"] for item in page["items"]]


async def test_pages_cover_the_result_once_with_a_stable_total(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    made = [await catalog.product(shelf, name=f"Item {i:02d}", price_cents=100 + i) for i in range(7)]

    seen: list[str] = []
    for page in (1, 2, 3):
        body = (
            await public.call(
                "GET", "/v1/products", params={"category": shelf, "page": page, "page_size": 3, "sort": "price",
                                               "order": "asc"}
            )
        ).ok(200)
        assert (body["total"], body["page"], body["page_size"]) == (7, page, 3)
        seen += [item["id"] for item in body["items"]]
    assert seen == [p["id"] for p in made]
    beyond = (await public.call("GET", "/v1/products", params={"category": shelf, "page": 9, "page_size": 3})).ok(200)
    assert beyond["items"] == [] and beyond["total"] == 7


async def test_sorts_by_name_price_and_creation_both_ways(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    # Created in this order; names and prices each give a different order.
    b = await catalog.product(shelf, name="bbb", price_cents=300)
    c = await catalog.product(shelf, name="ccc", price_cents=100)
    a = await catalog.product(shelf, name="aaa", price_cents=200)

    async def order(sort: str, direction: str) -> list[str]:
        return await _ids(public, category=shelf, sort=sort, order=direction)

    assert await order("name", "asc") == [a["id"], b["id"], c["id"]]
    assert await order("name", "desc") == [c["id"], b["id"], a["id"]]
    assert await order("price", "asc") == [c["id"], a["id"], b["id"]]
    assert await order("price", "desc") == [b["id"], a["id"], c["id"]]
    assert await order("created_at", "asc") == [b["id"], c["id"], a["id"]]
    assert await order("created_at", "desc") == [a["id"], c["id"], b["id"]]
    # The default is newest first.
    assert await _ids(public, category=shelf) == [a["id"], c["id"], b["id"]]


async def test_category_filter_includes_subcategories_only(public: Any, catalog: Any) -> None:
    clothing = await catalog.category("Clothing")
    shirts = await catalog.category("Shirts", parent=clothing)
    polos = await catalog.category("Polos", parent=shirts)
    other = await catalog.category("Garden")
    in_clothing = await catalog.product(clothing)
    in_shirts = await catalog.product(shirts)
    in_polos = await catalog.product(polos)
    await catalog.product(other)

    assert set(await _ids(public, category=clothing)) == {in_clothing["id"], in_shirts["id"], in_polos["id"]}
    assert set(await _ids(public, category=shirts)) == {in_shirts["id"], in_polos["id"]}
    assert await _ids(public, category=polos) == [in_polos["id"]]
    assert await _ids(public, category=f"nowhere-{uuid.uuid4().hex[:8]}") == []


async def test_price_range_is_inclusive(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    cheap = await catalog.product(shelf, price_cents=0)
    mid = await catalog.product(shelf, price_cents=500)
    dear = await catalog.product(shelf, price_cents=1000)

    assert set(await _ids(public, category=shelf, min_price=500)) == {mid["id"], dear["id"]}
    assert set(await _ids(public, category=shelf, max_price=500)) == {cheap["id"], mid["id"]}
    assert await _ids(public, category=shelf, min_price=500, max_price=500) == [mid["id"]]
    assert await _ids(public, category=shelf, min_price=1001) == []


async def test_name_search_is_a_literal_case_insensitive_substring(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    marker = uuid.uuid4().hex[:8]
    hit = await catalog.product(shelf, name=f"Blue {marker} Kettle")
    percent = await catalog.product(shelf, name=f"100% {marker} cotton")
    await catalog.product(shelf, name="Red Teapot")

    assert await _ids(public, q=marker.upper()) == [percent["id"], hit["id"]]
    assert await _ids(public, q=f"{marker} kett") == [hit["id"]]
    # % and _ are plain characters to a shopper, not wildcards.
    assert await _ids(public, category=shelf, q="%") == [percent["id"]]
    assert await _ids(public, category=shelf, q="_") == []


async def test_sku_filter_matches_exactly_ignoring_case(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    product = await catalog.product(shelf)
    assert await _ids(public, sku=product["sku"].lower()) == [product["id"]]
    assert await _ids(public, sku=product["sku"][:-1]) == []


async def test_filters_combine(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    marker = uuid.uuid4().hex[:8]
    wanted = await catalog.product(shelf, name=f"Lamp {marker}", price_cents=700)
    await catalog.product(shelf, name=f"Lamp {marker} XL", price_cents=2000)
    await catalog.product(shelf, name="Chair", price_cents=700)

    assert await _ids(public, category=shelf, q=marker, max_price=1000) == [wanted["id"]]


async def test_list_items_look_like_the_single_product(public: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    product = await catalog.product(shelf)
    page = (await public.call("GET", "/v1/products", params={"sku": product["sku"]})).ok(200)
    assert page["items"] == [product]
    assert page["page_size"] == 20  # the default


async def test_deleted_products_leave_lists_and_totals(public: Any, admin: Any, catalog: Any) -> None:
    shelf = await catalog.category("Shelf")
    keep = await catalog.product(shelf)
    gone = await catalog.product(shelf)
    assert (await admin.call("DELETE", f"/v1/products/{gone['id']}")).status == 204

    page = (await public.call("GET", "/v1/products", params={"category": shelf})).ok(200)
    assert [item["id"] for item in page["items"]] == [keep["id"]]
    assert page["total"] == 1
    assert await _ids(public, sku=gone["sku"]) == []
