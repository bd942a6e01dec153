"""The local AWS endpoint gets the declared topics, queues, dead-letter queues and fan-out, idempotently."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.aws import AwsClients
from commerce_platform.devstack.aws_emulator import provision_topology
from commerce_platform.event_topology import QUEUES, TOPICS, queue
from commerce_platform.events.catalog import StockChanged
from commerce_platform.events.envelope import encode_envelope
from commerce_platform.events.outbox import record_event
from commerce_platform.events.relay import OutboxRelay

pytestmark = pytest.mark.stack


async def test_provisioning_twice_gives_one_subscription_per_declared_pair(aws: AwsClients) -> None:
    prefix = f"evt-{uuid4().hex[:8]}-"
    traceparent = f"00-{'1' * 32}-{'2' * 16}-01"
    first = await provision_topology(aws, name_prefix=prefix)
    second = await provision_topology(aws, name_prefix=prefix)
    assert first == second
    assert set(first) == {t.name for t in TOPICS}

    async with aws.client("sns") as sns, aws.client("sqs") as sqs:
        urls = {q.name: (await sqs.get_queue_url(QueueName=prefix + q.name))["QueueUrl"] for q in QUEUES}
        for declared in QUEUES:
            attributes = (await sqs.get_queue_attributes(QueueUrl=urls[declared.name], AttributeNames=["All"]))[
                "Attributes"
            ]
            redrive = json.loads(attributes["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"].endswith(":" + prefix + declared.dead_letter_name)
            assert int(redrive["maxReceiveCount"]) == declared.max_receive_count
            assert int(attributes["VisibilityTimeout"]) == declared.visibility_timeout_seconds
            dead_letter_url = (await sqs.get_queue_url(QueueName=prefix + declared.dead_letter_name))["QueueUrl"]
            dead_letter = (
                await sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["MessageRetentionPeriod"])
            )["Attributes"]
            assert int(dead_letter["MessageRetentionPeriod"]) == 14 * 24 * 3600

        await sns.publish(
            TopicArn=first["product-events"],
            Message="{}",
            MessageAttributes={"traceparent": {"DataType": "String", "StringValue": traceparent}},
        )
        received: dict[str, list[dict[str, Any]]] = {}
        for name, url in urls.items():
            response = await sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1 if name != "notification-orders" else 0,
                MessageAttributeNames=["All"],
            )
            received[name] = response.get("Messages", [])

    subscribers = {q.name for q in QUEUES if "product-events" in q.subscribes_to}
    for name, messages in received.items():
        assert len(messages) == (1 if name in subscribers else 0), name
    # Raw delivery: the body is the published message and attributes arrive as SQS attributes.
    message = received[queue("search-products").name][0]
    assert message["Body"] == "{}"
    assert "traceparent" in message["MessageAttributes"]


async def test_search_gets_the_stock_changes_it_can_show_and_no_sales(
    aws: AwsClients, scratch_db: Any, background: Any
) -> None:
    """Through the real relay and the provisioned subscription filter: a StockChanged that left
    `available` as it was (a sale) reaches no search queue; one that moved it does."""
    prefix = f"evt-{uuid4().hex[:8]}-"
    arns = await provision_topology(aws, name_prefix=prefix)

    def stock(available_changed: bool, revision: int) -> StockChanged:
        return StockChanged(product_id=uuid4(), on_hand=5, reserved=1, available=4, revision=revision,
                            reason="sale" if not available_changed else "reserved",
                            occurred_at=datetime.now(UTC), available_changed=available_changed)

    async with AsyncSession(scratch_db.engine) as session, session.begin():
        sale = await record_event(session, stock(False, 1), source="tests")
        hold = await record_event(session, stock(True, 2), source="tests")
    background(OutboxRelay(scratch_db, aws, topic_arn=lambda topic: arns[topic]).run())

    async with aws.client("sqs") as sqs:
        url = (await sqs.get_queue_url(QueueName=prefix + "search-products"))["QueueUrl"]
        received: list[dict[str, Any]] = []
        for _ in range(3):  # until both had time to arrive
            response = await sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            )
            received += response.get("Messages", [])
    assert [json.loads(m["Body"])["id"] for m in received] == [str(hold.id)]
    assert received[0]["MessageAttributes"]["available_changed"]["StringValue"] == "true"
    # Not vacuous: the relay did publish the sale; the subscription filtered it out.
    async with scratch_db.engine.connect() as conn:
        unsent = (await conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one()
    assert unsent == 0
    assert str(sale.id) not in {json.loads(m["Body"])["id"] for m in received}


async def test_a_stock_change_whose_attributes_cannot_be_read_still_reaches_search(
    aws: AwsClients, scratch_db: Any, background: Any
) -> None:
    """A relay that cannot read `available_changed` (here: a newer version, as an old replica meets
    during a rolling deploy) sends the value every filter lets through: search gets the event and can
    dead-letter it, rather than its subscription dropping it without a trace."""
    prefix = f"evt-{uuid4().hex[:8]}-"
    arns = await provision_topology(aws, name_prefix=prefix)
    sale = StockChanged(product_id=uuid4(), on_hand=5, reserved=1, available=4, revision=1, reason="sale",
                        occurred_at=datetime.now(UTC), available_changed=False)
    async with AsyncSession(scratch_db.engine) as session, session.begin():
        envelope = await record_event(session, sale, source="tests")
    newer = json.dumps({**json.loads(encode_envelope(envelope)), "version": 2}).encode()
    async with scratch_db.engine.begin() as conn:
        await conn.execute(text("UPDATE outbox SET payload = :payload"), {"payload": newer})
    background(OutboxRelay(scratch_db, aws, topic_arn=lambda topic: arns[topic]).run())

    async with aws.client("sqs") as sqs:
        url = (await sqs.get_queue_url(QueueName=prefix + "search-products"))["QueueUrl"]
        received: list[dict[str, Any]] = []
        for _ in range(5):
            response = await sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            )
            received += response.get("Messages", [])
            if received:
                break
    assert [m["Body"].encode() for m in received] == [newer]
    assert received[0]["MessageAttributes"]["available_changed"]["StringValue"] == "true"
