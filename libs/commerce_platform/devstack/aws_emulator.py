"""A local AWS endpoint (moto in server mode) for SNS, SQS and SES, and the topology it needs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from commerce_platform.aws import AwsClients
from commerce_platform.devstack.processes import ManagedProcess
from commerce_platform.event_topology import QUEUES, TOPICS

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LOCAL_SENDER = "shop@example.com"
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600


def start_moto(port: int, log_dir: Path) -> ManagedProcess:
    process = ManagedProcess(
        "aws",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=log_dir / "aws.log",
    )
    process.start()
    return process


async def provision_topology(aws: AwsClients, *, name_prefix: str = "") -> dict[str, str]:
    """Create every topic, queue, dead-letter queue, redrive policy and raw-delivery subscription.

    Idempotent: create calls return existing resources. Returns the ARN of each topic by name.
    """
    topic_arns: dict[str, str] = {}
    async with aws.client("sns") as sns, aws.client("sqs") as sqs:
        for topic in TOPICS:
            created = await sns.create_topic(Name=f"{name_prefix}{topic.name}")
            topic_arns[topic.name] = created["TopicArn"]
        for queue in QUEUES:
            dlq_url = (
                await sqs.create_queue(
                    QueueName=f"{name_prefix}{queue.dead_letter_name}",
                    # As in infra-pulumi: keep dead letters as long as SQS allows (default is 4 days).
                    Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
                )
            )["QueueUrl"]
            dlq_arn = await _queue_arn(sqs, dlq_url)
            queue_url = (
                await sqs.create_queue(
                    QueueName=f"{name_prefix}{queue.name}",
                    Attributes={
                        "VisibilityTimeout": str(queue.visibility_timeout_seconds),
                        "RedrivePolicy": json.dumps(
                            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.max_receive_count)}
                        ),
                    },
                )
            )["QueueUrl"]
            queue_arn = await _queue_arn(sqs, queue_url)
            # Real AWS needs this; moto ignores it. Same policy shape as infra-pulumi's.
            policy = _queue_policy(queue_arn, [topic_arns[t] for t in queue.subscribes_to])
            await sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
            for topic_name in queue.subscribes_to:
                attributes = {"RawMessageDelivery": "true"}
                if (filter_policy := queue.filter_policy(topic_name)) is not None:
                    attributes["FilterPolicy"] = json.dumps(filter_policy)
                await sns.subscribe(
                    TopicArn=topic_arns[topic_name],
                    Protocol="sqs",
                    Endpoint=queue_arn,
                    Attributes=attributes,
                    ReturnSubscriptionArn=True,
                )
    async with aws.client("ses") as ses:
        await ses.verify_email_identity(EmailAddress=LOCAL_SENDER)
    return topic_arns


async def _queue_arn(sqs: Any, queue_url: str) -> str:
    attrs = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    arn: str = attrs["Attributes"]["QueueArn"]
    return arn


def _queue_policy(queue_arn: str, topic_arns: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
            }
        ],
    }
