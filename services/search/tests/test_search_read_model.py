"""The event handlers keep the read model right whatever order or how often events arrive."""

from __future__ import annotations

import uuid
from typing import Any

from commerce_platform.events.envelope import new_envelope


async def test_created_then_updated_replaces_every_product_field(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id, name="Trail Runner", price_cents=4999, category_path=["shoes", "trail"]),
        events.updated(
            product_id,
            revision=2,
            sku="SKU-RENAMED",
            name="Trail Runner II",
            description="Now lighter",
            price_cents=5999,
            currency="USD",
            category_path=["shoes", "road"],
            attributes={"color": "blue", "size": 43},
        ),
    )

    row = await read_model.row(product_id)
    assert row is not None
    assert (row["sku"], row["name"], row["description"]) == ("SKU-RENAMED", "Trail Runner II", "Now lighter")
    assert (row["price_cents"], row["currency"]) == (5999, "USD")
    assert (row["category_slug"], list(row["category_path"])) == ("road", ["shoes", "road"])
    assert row["product_revision"] == 2
    assert row["listed"] is True
    assert "'lighter'" in row["document"]  # the generated document follows the new description


async def test_an_older_update_arriving_late_changes_nothing(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(
        events.updated(product_id, revision=3, name="Third", price_cents=300),
        events.created(product_id, revision=1, name="First", price_cents=100),
        events.updated(product_id, revision=2, name="Second", price_cents=200),
    )

    row = await read_model.row(product_id)
    assert (row["name"], row["price_cents"], row["product_revision"]) == ("Third", 300, 3)
    assert row["listed"] is True


async def test_the_same_event_delivered_twice_is_applied_once(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    created = events.created(product_id, name="Original")
    envelope = new_envelope(created, source="search-tests")
    assert await read_model.deliver(envelope, created) is True
    await read_model.apply(events.updated(product_id, revision=2, name="Renamed"))

    # A redelivery of the first message (same event id) is skipped by the inbox...
    assert await read_model.deliver(envelope, created) is False
    # ...and a republished copy under a new id is stopped by the revision guard.
    await read_model.apply(events.updated(product_id, revision=2, name="Renamed again at the same revision"))

    row = await read_model.row(product_id)
    assert (row["name"], row["product_revision"]) == ("Renamed", 2)


async def test_a_deleted_product_is_not_resurrected_by_an_older_update(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id, name="Doomed"),
        events.deleted(product_id, revision=3),
        events.updated(product_id, revision=2, name="Stale rename"),
    )

    row = await read_model.row(product_id)
    assert row["deleted"] is True
    assert row["listed"] is False
    assert row["product_revision"] == 3
    assert row["name"] == "Doomed"


async def test_a_deletion_at_the_revision_of_the_last_update_still_deletes(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id, name="Doomed"),
        events.updated(product_id, revision=2, name="Renamed"),
        events.deleted(product_id, revision=2),
    )

    row = await read_model.row(product_id)
    assert (row["deleted"], row["listed"], row["product_revision"]) == (True, False, 2)


async def test_a_deletion_that_overtakes_the_creation_leaves_a_tombstone(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(events.deleted(product_id, revision=2, sku="GONE-1"))
    tombstone = await read_model.row(product_id)
    assert tombstone is not None
    assert (tombstone["sku"], tombstone["listed"], tombstone["product_revision"]) == ("GONE-1", False, 2)

    await read_model.apply(events.created(product_id, revision=1, name="Late creation"))

    row = await read_model.row(product_id)
    assert row["listed"] is False
    assert row["name"] == ""


async def test_a_newer_revision_after_a_deletion_lists_the_product_again(read_model: Any, events: Any) -> None:
    # Not something the product service does today, but the rule is "newest revision wins".
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id, name="Back"),
        events.deleted(product_id, revision=2),
        events.updated(product_id, revision=3, name="Back again"),
    )

    row = await read_model.row(product_id)
    assert (row["listed"], row["deleted"], row["name"]) == (True, False, "Back again")


async def test_stock_that_arrives_before_the_product_applies_once_it_does(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(events.stock(product_id, on_hand=9, reserved=2, revision=4))
    early = await read_model.row(product_id)
    assert early is not None
    assert (early["available"], early["listed"]) == (7, False)

    await read_model.apply(events.created(product_id, name="Arrived"))

    row = await read_model.row(product_id)
    assert (row["name"], row["listed"]) == ("Arrived", True)
    assert (row["on_hand"], row["reserved"], row["available"], row["in_stock"]) == (9, 2, 7, True)
    assert row["stock_revision"] == 4


async def test_older_stock_is_ignored_and_product_updates_keep_the_stock(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id),
        events.stock(product_id, on_hand=5, revision=2),
        events.stock(product_id, on_hand=50, revision=1),
        events.updated(product_id, revision=2, price_cents=1234),
    )

    row = await read_model.row(product_id)
    assert (row["on_hand"], row["available"], row["stock_revision"]) == (5, 5, 2)
    assert row["price_cents"] == 1234

    await read_model.apply(events.stock(product_id, on_hand=3, reserved=3, revision=3))
    sold_out = await read_model.row(product_id)
    assert (sold_out["available"], sold_out["in_stock"]) == (0, False)


async def test_the_document_weighs_name_above_category_above_description(read_model: Any, events: Any) -> None:
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(
            product_id,
            name="Crème Brûlée Torch",
            sku="TORCH-1",
            description="Caramelises sugar",
            category_path=["home", "kitchen-tools"],
            attributes={"fuel": "butane", "refillable": True},
        )
    )

    weights = await read_model.document_weights(product_id)
    assert weights["brule"] == {"A"}  # the name, unaccented and stemmed
    assert weights["torch"] == {"A", "B"}  # in the name and the SKU
    assert weights["kitchen"] == {"B"}  # category slugs, split at hyphens
    assert weights["caramelis"] == {"C"}  # description
    assert weights["butan"] == {"D"}  # attribute values


async def test_facet_counts_follow_every_kind_of_change(read_model: Any, events: Any, new_token: Any) -> None:
    root = new_token()
    shoes, boots = [root, f"{root}-shoes"], [root, f"{root}-boots"]
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await read_model.apply(
        events.stock(c, on_hand=3, revision=1),  # stock first: counted only once the product arrives
        events.created(a, category_path=shoes, price_cents=999),
        events.created(b, category_path=shoes, price_cents=999),
        events.created(c, category_path=boots, price_cents=30000),
        events.stock(a, on_hand=2, revision=1),  # a: out of stock -> in stock
        events.updated(b, revision=2, category_path=boots, price_cents=4000),  # b: other category and band
        events.deleted(c, revision=2),  # c: gone
        events.updated(c, revision=1, category_path=shoes, price_cents=999),  # stale: changes nothing
    )

    expected = {
        (tuple(shoes), 0, True): 1,  # a
        (tuple(boots), 2, False): 1,  # b
    }
    assert await read_model.counted_by_hand(root) == expected
    assert await read_model.facet_counts(root) == expected


async def test_derived_text_columns_follow_the_product_text_and_ignore_stock(read_model: Any, events: Any) -> None:
    """`document` and `search_name` are kept by a trigger (migration 0004), not generated columns:
    they must always equal what the functions give for the row's current text, through stock that
    arrives first, a creation, stock changes, a rename and a deletion."""
    product_id = uuid.uuid4()

    async def derived_matches_text() -> bool:
        row = await read_model.database.fetchrow(
            "SELECT search_name = search_unaccent(name) AND document"
            " = search_document(name, sku, category_path, description, attributes) AS matches"
            " FROM search_product WHERE product_id = $1",
            product_id,
        )
        return row is not None and row["matches"] is True

    await read_model.apply(events.stock(product_id, on_hand=3, revision=1))
    row = await read_model.row(product_id)
    assert (row["search_name"], row["document"]) == ("", "")
    assert await derived_matches_text()
    await read_model.apply(events.created(product_id, name="Crème Kettle", description="boils water"))
    assert await derived_matches_text()
    assert (await read_model.row(product_id))["search_name"] == "Creme Kettle"
    await read_model.apply(events.stock(product_id, on_hand=2, reserved=1, revision=2))
    assert await derived_matches_text()
    await read_model.apply(events.updated(product_id, revision=2, name="Steel Kettle", description="whistles"))
    row = await read_model.row(product_id)
    assert row["search_name"] == "Steel Kettle" and "'whistl'" in row["document"] and "'boil'" not in row["document"]
    assert await derived_matches_text()
    await read_model.apply(events.deleted(product_id, revision=3))
    assert await derived_matches_text()
