"""A product's life as the admin writes it and the public reads it: create, read, change, delete."""

from __future__ import annotations

import uuid
from typing import Any


async def test_admin_creates_reads_patches_and_deletes_a_product(public: Any, admin: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    body = catalog.product_body(shoes, name="Trail runner", price_cents=4999)

    created = await admin.call("POST", "/v1/products", json=body)
    product = created.ok(201)
    assert created.headers["location"] == f"/v1/products/{product['id']}"
    assert created.headers["etag"] == '"1"'
    assert {k: product[k] for k in body if k != "category"} == {k: body[k] for k in body if k != "category"}
    assert product["category"] == shoes
    assert product["category_path"] == [shoes]
    assert product["revision"] == 1
    assert product["created_at"] == product["updated_at"]

    read = await public.call("GET", f"/v1/products/{product['id']}")
    assert read.ok(200) == product
    assert read.headers["etag"] == '"1"'
    assert "max-age" in read.headers["cache-control"]

    patched = await admin.call("PATCH", f"/v1/products/{product['id']}", json={"price_cents": 3999, "name": "Trail"})
    after = patched.ok(200)
    assert (after["price_cents"], after["name"], after["revision"]) == (3999, "Trail", 2)
    assert after["sku"] == body["sku"] and after["attributes"] == body["attributes"]
    assert after["updated_at"] > product["updated_at"]
    assert after["created_at"] == product["created_at"]
    assert (await public.call("GET", f"/v1/products/{product['id']}")).ok(200) == after

    deleted = await admin.call("DELETE", f"/v1/products/{product['id']}")
    assert deleted.status == 204, deleted.body
    (await public.call("GET", f"/v1/products/{product['id']}")).problem(404)
    listed = (await public.call("GET", "/v1/products", params={"category": shoes})).ok(200)
    assert listed["items"] == [] and listed["total"] == 0
    # Deleting twice, or changing a deleted product, finds nothing.
    (await admin.call("DELETE", f"/v1/products/{product['id']}")).problem(404)
    (await admin.call("PATCH", f"/v1/products/{product['id']}", json={"name": "Ghost"})).problem(404)


async def test_patch_moves_a_product_to_another_category_and_replaces_attributes(admin: Any, catalog: Any) -> None:
    clothing = await catalog.category("Clothing")
    shirts = await catalog.category("Shirts", parent=clothing)
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes, attributes={"color": "red", "size": 42})

    moved = (
        await admin.call(
            "PATCH", f"/v1/products/{product['id']}", json={"category": shirts, "attributes": {"fit": "slim"}}
        )
    ).ok(200)
    assert moved["category"] == shirts
    assert moved["category_path"] == [clothing, shirts]
    assert moved["attributes"] == {"fit": "slim"}
    assert moved["revision"] == 2


async def test_a_patch_that_changes_nothing_keeps_the_revision(admin: Any, catalog: Any, outbox_rows: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes, price_cents=1000)

    same = (await admin.call("PATCH", f"/v1/products/{product['id']}", json={"price_cents": 1000})).ok(200)
    assert same["revision"] == 1
    assert [row["event_type"] for row in await outbox_rows(product["id"])] == ["ProductCreated"]


async def test_if_match_guards_against_lost_updates(admin: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes)
    path = f"/v1/products/{product['id']}"

    first = await admin.call("PATCH", path, json={"price_cents": 1}, headers={"If-Match": '"1"'})
    assert first.ok(200)["revision"] == 2 and first.headers["etag"] == '"2"'
    stale = await admin.call("PATCH", path, json={"price_cents": 2}, headers={"If-Match": '"1"'})
    stale.problem(412)
    # If-Match compares strongly: a weak tag never matches.
    (await admin.call("PATCH", path, json={"price_cents": 2}, headers={"If-Match": 'W/"2"'})).problem(412)
    (await admin.call("DELETE", path, headers={"If-Match": '"1"'})).problem(412)
    assert (await admin.call("DELETE", path, headers={"If-Match": '"2"'})).status == 204


async def test_a_matching_etag_gets_304_without_a_body(public: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes)
    path = f"/v1/products/{product['id']}"

    for header in ('"1"', 'W/"1"', '"0", "1"', "*"):
        fresh = await public.call("GET", path, headers={"If-None-Match": header})
        assert fresh.status == 304 and fresh.body == b"", header
        assert fresh.headers["etag"] == '"1"'
    stale = await public.call("GET", path, headers={"If-None-Match": '"7"'})
    assert stale.ok(200)["id"] == product["id"]


async def test_a_deleted_products_sku_can_be_used_again(admin: Any, catalog: Any) -> None:
    shoes = await catalog.category("Shoes")
    first = await catalog.product(shoes)
    assert (await admin.call("DELETE", f"/v1/products/{first['id']}")).status == 204

    second = await catalog.product(shoes, sku=first["sku"].lower())
    assert second["id"] != first["id"]


async def test_unknown_product_is_404(public: Any, admin: Any) -> None:
    missing = f"/v1/products/{uuid.uuid4()}"
    (await public.call("GET", missing)).problem(404)
    (await admin.call("PATCH", missing, json={"name": "x"})).problem(404)
    (await admin.call("DELETE", missing)).problem(404)
