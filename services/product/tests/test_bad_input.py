"""Bad input on every endpoint: each is refused with a problem body, and nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price_cents", -1),
        ("price_cents", 12.5),
        ("price_cents", True),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("currency", "ABC"),
        ("sku", ""),
        ("sku", "has space"),
        ("sku", "x" * 65),
        ("name", "   "),
        ("name", "n" * 201),
        ("attributes", {"nested": {"a": 1}}),
        ("attributes", {"list": [1, 2]}),
        ("attributes", {"nothing": None}),
        ("attributes", {f"k{i}": i for i in range(51)}),
        ("attributes", {"long": "v" * 501}),
        ("attributes", ["not", "an", "object"]),
        ("category", "Not A Slug"),
    ],
)
async def test_create_product_rejects_invalid_fields(
    admin: Any, public: Any, catalog: Any, field: str, value: Any
) -> None:
    shoes = await catalog.category("Shoes")
    body = catalog.product_body(shoes, **{field: value})
    problem = (await admin.call("POST", "/v1/products", json=body)).problem(400)
    assert field in problem["detail"], problem
    assert (await public.call("GET", "/v1/products", params={"category": shoes})).ok(200)["total"] == 0


async def test_create_product_needs_its_required_fields_and_no_others(admin: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    for missing in ("sku", "name", "price_cents", "currency", "category"):
        body = catalog.product_body(shoes)
        del body[missing]
        (await admin.call("POST", "/v1/products", json=body)).problem(400)
    unknown = catalog.product_body(shoes, colour="red")
    assert "colour" in (await admin.call("POST", "/v1/products", json=unknown)).problem(400)["detail"]


async def test_unknown_category_is_unprocessable(admin: Any, catalog: Any) -> None:
    body = catalog.product_body(f"no-such-{uuid.uuid4().hex[:8]}")
    problem = (await admin.call("POST", "/v1/products", json=body)).problem(422)
    assert body["category"] in problem["detail"]


async def test_duplicate_sku_conflicts_whatever_its_case(admin: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    first = await catalog.product(shoes)
    again = catalog.product_body(shoes, sku=first["sku"].lower())
    (await admin.call("POST", "/v1/products", json=again)).problem(409)

    other = await catalog.product(shoes)
    taken = await admin.call("PATCH", f"/v1/products/{other['id']}", json={"sku": first["sku"]})
    taken.problem(409)


async def test_malformed_json_is_400(admin: Any) -> None:
    for path in ("/v1/products", "/v1/categories"):
        (await admin.call("POST", path, data=b'{"sku": "A1",')).problem(400)
    (await admin.call("PATCH", f"/v1/products/{uuid.uuid4()}", data=b"{not json")).problem(400)


async def test_writes_need_a_token_and_the_admin_role(public: Any, customer: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes)
    writes = [
        ("POST", "/v1/products", catalog.product_body(shoes)),
        ("PATCH", f"/v1/products/{product['id']}", {"name": "Hacked"}),
        ("DELETE", f"/v1/products/{product['id']}", None),
        ("POST", "/v1/categories", {"slug": f"c-{uuid.uuid4().hex[:8]}", "name": "Sneaky"}),
    ]
    for method, path, body in writes:
        anonymous = (await public.call(method, path, json=body)).problem(401)
        assert anonymous["status"] == 401
        (await customer.call(method, path, json=body)).problem(403)
        (await public.as_("not-a-jwt").call(method, path, json=body)).problem(401)
    unchanged = (await public.call("GET", f"/v1/products/{product['id']}")).ok(200)
    assert unchanged["name"] == product["name"] and unchanged["revision"] == 1


async def test_patch_rejects_bad_values_and_empty_patches(admin: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes)
    path = f"/v1/products/{product['id']}"
    for body in ({"price_cents": -5}, {"currency": "usd"}, {"attributes": {"a": {"b": 1}}}, {"id": str(uuid.uuid4())}):
        (await admin.call("PATCH", path, json=body)).problem(400)
    (await admin.call("PATCH", path, json={})).problem(400)
    (await admin.call("PATCH", path, json={"category": "no-such-category-anywhere"})).problem(422)
    assert (await admin.call("GET", path)).ok(200)["revision"] == 1


async def test_product_ids_must_be_uuids(public: Any, admin: Any) -> None:
    (await public.call("GET", "/v1/products/not-a-uuid")).problem(404)
    (await admin.call("PATCH", "/v1/products/42", json={"name": "x"})).problem(404)


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": "one"},
        {"page_size": 0},
        {"page_size": 101},
        {"sort": "colour"},
        {"order": "sideways"},
        {"min_price": -1},
        {"max_price": "cheap"},
        {"max_price": 10**20},  # past bigint: was a 500
        {"min_price": 10**12},
        {"min_price": 500, "max_price": 100},
        {"q": ""},
    ],
)
async def test_list_rejects_bad_query_parameters(public: Any, params: dict[str, Any]) -> None:
    (await public.call("GET", "/v1/products", params=params)).problem(400)


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Upper-Case", "name": "Bad"},
        {"slug": "under_score", "name": "Bad"},
        {"slug": "-leading", "name": "Bad"},
        {"slug": "double--hyphen", "name": "Bad"},
        {"slug": "s" * 65, "name": "Bad"},
        {"slug": "fine-slug", "name": ""},
        {"slug": "fine-slug", "name": "   "},
        {"slug": "fine-slug"},
        {"slug": "fine-slug", "name": "Fine", "parent_slug": "Not Valid"},
        {"slug": "fine-slug", "name": "Fine", "extra": 1},
    ],
)
async def test_create_category_rejects_invalid_bodies(admin: Any, body: dict[str, Any]) -> None:
    (await admin.call("POST", "/v1/categories", json=body)).problem(400)


async def test_duplicate_category_slug_conflicts(admin: Any, catalog: Any) -> None:
    slug = await catalog.category("Shoes")
    (await admin.call("POST", "/v1/categories", json={"slug": slug, "name": "Shoes again"})).problem(409)


async def test_unknown_parent_category_is_unprocessable(admin: Any, new_slug: Any) -> None:
    body = {"slug": new_slug("child"), "name": "Orphan", "parent_slug": new_slug("missing")}
    (await admin.call("POST", "/v1/categories", json=body)).problem(422)
    (await admin.call("GET", f"/v1/categories/{body['slug']}")).problem(404)


async def test_lookup_rejects_bad_bodies(public: Any) -> None:
    for body in ({"ids": []}, {"ids": ["nope"]}, {}, {"ids": [str(uuid.uuid4())] * 201}):
        (await public.call("POST", "/internal/v1/products/lookup", json=body)).problem(400)


async def test_a_nul_character_in_a_body_or_query_is_a_400_and_writes_nothing(
    admin: Any, public: Any, catalog: Any
) -> None:
    shoes = await catalog.category("Shoes")
    body = catalog.product_body(shoes, name="Kett\x00le")
    assert (await admin.call("POST", "/v1/products", json=body)).problem(400)["type"].endswith("/unstorable-text")
    assert (await public.call("GET", "/v1/products", params={"category": shoes})).ok(200)["total"] == 0
    (await public.call("GET", "/v1/products", params={"q": "\x00"})).problem(400)
