"""docker/aws/provision.py (compose's aws-init) against a real moto server: it builds the event
topology so that a published event reaches exactly the subscribed queues, raw, and poison
messages end in the dead-letter queue."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from commerce_infra.local_stack.aws_topology import topology
from commerce_platform.event_topology import QUEUES, TOPICS


@pytest.fixture(scope="module")
def provision_module(repo: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_provision", repo / "docker/aws/provision.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def endpoint(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch_module.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch_module.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch_module.setenv("AWS_SECRET_ACCESS_KEY", "test")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def provisioned(provision_module: ModuleType, endpoint: str) -> dict[str, str]:
    first = provision_module.provision(topology())
    # Running it again (a compose restart) must be harmless.
    assert provision_module.provision(topology()) == first
    return first


def _client(name: str, endpoint: str) -> Any:
    return boto3.client(name, region_name=topology()["region"], endpoint_url=endpoint)


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_every_queue_has_a_dead_letter_queue(provisioned: dict[str, str], endpoint: str) -> None:
    sqs = _client("sqs", endpoint)
    for q in QUEUES:
        attrs = sqs.get_queue_attributes(QueueUrl=provisioned[q.name], AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{q.dead_letter_name}")
        assert int(redrive["maxReceiveCount"]) == q.max_receive_count
        policy = json.loads(attrs["Policy"])
        allowed = policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert sorted(a.rsplit(":", 1)[1] for a in allowed) == sorted(q.subscribes_to)


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_an_event_reaches_exactly_the_subscribed_queues_raw(provisioned: dict[str, str], endpoint: str, topic) -> None:
    sns, sqs = _client("sns", endpoint), _client("sqs", endpoint)
    for q in QUEUES:
        _drain(sqs, provisioned[q.name])
    body = json.dumps({"type": topic.event_types[0], "data": {}})
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    attributes = {"traceparent": {"DataType": "String", "StringValue": traceparent}}
    # Pass every subscription filter on this topic, so each subscribed queue must receive it.
    for q in QUEUES:
        for f in q.filters:
            if f.topic == topic.name:
                attributes[f.attribute] = {"DataType": "String", "StringValue": f.values[0]}
    sns.publish(TopicArn=provisioned[topic.name], Message=body, MessageAttributes=attributes)
    for q in QUEUES:
        received = _drain(sqs, provisioned[q.name])
        if topic.name in q.subscribes_to:
            assert [m["Body"] for m in received] == [body], q.name  # raw: no SNS envelope
            assert received[0]["MessageAttributes"]["traceparent"]["StringValue"] == traceparent
        else:
            assert received == [], q.name


@pytest.mark.parametrize(
    ("queue", "topic_filter"), [(q, f) for q in QUEUES for f in q.filters], ids=lambda v: getattr(v, "name", "")
)
def test_a_subscription_filter_keeps_out_messages_it_does_not_match(
    provisioned: dict[str, str], endpoint: str, queue: Any, topic_filter: Any
) -> None:
    sns, sqs = _client("sns", endpoint), _client("sqs", endpoint)
    _drain(sqs, provisioned[queue.name])
    for value in ("no-such-value", *topic_filter.values):
        sns.publish(
            TopicArn=provisioned[topic_filter.topic],
            Message=json.dumps({"value": value}),
            MessageAttributes={topic_filter.attribute: {"DataType": "String", "StringValue": value}},
        )
    sns.publish(TopicArn=provisioned[topic_filter.topic], Message=json.dumps({"value": None}))  # no attribute
    received = [json.loads(m["Body"])["value"] for m in _drain(sqs, provisioned[queue.name])]
    assert sorted(received) == sorted(topic_filter.values)


def test_a_poison_message_is_dead_lettered(provisioned: dict[str, str], endpoint: str) -> None:
    sqs = _client("sqs", endpoint)
    q = QUEUES[0]
    url = provisioned[q.name]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(q.max_receive_count + 1):
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    dead = _drain(sqs, provisioned[q.dead_letter_name])
    assert [m["Body"] for m in dead] == ["poison"]


def test_sender_identity_is_verified(provisioned: dict[str, str], endpoint: str) -> None:
    identities = _client("ses", endpoint).list_identities()["Identities"]
    assert set(topology()["email_identities"]) <= set(identities)
