"""Every product write leaves exactly one event in the outbox, committed with it; the relay delivers
them to the product-events topic."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Any

import msgspec

from commerce_platform.aws import AwsClients
from commerce_platform.events.envelope import decode_event


async def test_each_write_records_one_event_of_its_type(admin: Any, catalog: Any, outbox_rows: Any) -> None:
    parent = await catalog.category("Outdoor")
    tents = await catalog.category("Tents", parent=parent)
    product = await catalog.product(tents, price_cents=19900)
    pid = product["id"]
    patched = (await admin.call("PATCH", f"/v1/products/{pid}", json={"price_cents": 17900})).ok(200)
    assert (await admin.call("DELETE", f"/v1/products/{pid}")).status == 204

    rows = await outbox_rows(pid)
    assert [(r["event_type"], r["topic"]) for r in rows] == [
        ("ProductCreated", "product-events"),
        ("ProductUpdated", "product-events"),
        ("ProductDeleted", "product-events"),
    ]
    created, updated, deleted = (r["envelope"] for r in rows)
    assert all(e["source"] == "product-service" and e["version"] == 1 for e in (created, updated, deleted))
    assert [e["data"]["revision"] for e in (created, updated, deleted)] == [1, 2, 3]
    assert created["data"]["category_slug"] == tents
    assert created["data"]["category_path"] == [parent, tents]
    assert created["data"]["price_cents"] == 19900 and updated["data"]["price_cents"] == 17900
    assert created["data"]["attributes"] == product["attributes"]
    assert _instant(updated["data"]["updated_at"]) == _instant(patched["updated_at"])
    assert deleted["data"]["sku"] == product["sku"]
    # Each envelope decodes strictly into its catalog struct, as consumers will decode it.
    for row in rows:
        envelope, data = decode_event(msgspec.json.encode(row["envelope"]))
        assert envelope.type == row["event_type"] and str(data.product_id) == pid  # type: ignore[attr-defined]


async def test_rejected_writes_record_no_event(admin: Any, catalog: Any, outbox_rows: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes)
    pid = product["id"]
    (await admin.call("PATCH", f"/v1/products/{pid}", json={"category": "no-such-category-x"})).problem(422)
    (await admin.call("PATCH", f"/v1/products/{pid}", json={"price_cents": -1})).problem(400)
    duplicate = catalog.product_body(shoes, sku=product["sku"])
    (await admin.call("POST", "/v1/products", json=duplicate)).problem(409)

    assert [r["event_type"] for r in await outbox_rows(pid)] == ["ProductCreated"]


async def test_concurrent_patches_get_distinct_revisions(admin: Any, catalog: Any, outbox_rows: Any) -> None:
    shoes = await catalog.category("Shoes")
    product = await catalog.product(shoes, price_cents=100)
    path = f"/v1/products/{product['id']}"

    replies = await asyncio.gather(
        *(admin.call("PATCH", path, json={"price_cents": 200 + i}) for i in range(8))
    )
    assert sorted(r.ok(200)["revision"] for r in replies) == list(range(2, 10))
    revisions = [r["envelope"]["data"]["revision"] for r in await outbox_rows(product["id"])]
    assert revisions == list(range(1, 10))


async def test_the_relay_publishes_to_the_product_events_topic(stack: Any, catalog: Any) -> None:
    aws = AwsClients(region="us-east-1", endpoint_url=stack.aws_endpoint_url)
    async with aws.client("sns") as sns, aws.client("sqs") as sqs:
        topics = (await sns.list_topics())["Topics"]
        topic_arn = next(t["TopicArn"] for t in topics if t["TopicArn"].endswith(":product-events"))
        queue_url = (await sqs.create_queue(QueueName=f"product-test-{uuid.uuid4().hex[:10]}"))["QueueUrl"]
        queue_arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        subscription = await sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        try:
            shoes = await catalog.category("Shoes")
            product = await catalog.product(shoes)
            received = await _receive_event_for(sqs, queue_url, product["id"], timeout=10.0)
        finally:
            await sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
            await sqs.delete_queue(QueueUrl=queue_url)

    envelope, data = decode_event(received["Body"])
    assert envelope.type == "ProductCreated"
    assert data.sku == product["sku"]  # type: ignore[attr-defined]
    assert received["MessageAttributes"]["event_type"]["StringValue"] == "ProductCreated"
    assert received["MessageAttributes"]["traceparent"]["StringValue"].startswith("00-")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _receive_event_for(sqs: Any, queue_url: str, product_id: str, *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await sqs.receive_message(
            QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        for message in reply.get("Messages", []):
            if json.loads(message["Body"])["data"]["product_id"] == product_id:
                return dict(message)
    raise AssertionError(f"no event for product {product_id} within {timeout}s")
