"""SNS topics and SQS queues with dead-letter queues, raw-delivery subscriptions and queue policies,
from the same event_topology.py the local emulator is provisioned from."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.naming import StackNaming
from commerce_infra.policy_documents import queue_policy, redrive_policy
from commerce_platform.event_topology import QUEUES, TOPICS, Queue, Topic

# A dead letter is kept for the maximum SQS allows, long enough to notice, fix and redrive.
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
# Events carry customers' emails and addresses, so topics are encrypted at rest with the AWS-managed
# SNS key. Its key policy lets any principal of this account use it through SNS, so publishers need
# no KMS rights in their task roles; SNS decrypts before it delivers, and the queues use SSE-SQS (no
# KMS key policy involved), so delivery to them keeps working. The alarms topic stays unencrypted:
# CloudWatch cannot publish to a topic under this key (observability.py).
TOPIC_KMS_KEY = "alias/aws/sns"


@dataclass(frozen=True)
class Messaging:
    topics: dict[str, aws.sns.Topic]
    queues: dict[str, aws.sqs.Queue]
    dead_letter_queues: dict[str, aws.sqs.Queue]


def _redrive_json(dead_letter_arn: pulumi.Output[str], max_receive_count: int) -> pulumi.Output[str]:
    return dead_letter_arn.apply(lambda arn: json.dumps(redrive_policy(arn, max_receive_count)))


def build_messaging(
    naming: StackNaming, topics: Iterable[Topic] = TOPICS, queues: Iterable[Queue] = QUEUES
) -> Messaging:
    sns_topics = {
        t.name: aws.sns.Topic(naming.name("topic", t.name), name=naming.topic(t.name), kms_master_key_id=TOPIC_KMS_KEY)
        for t in topics
    }
    sqs_queues: dict[str, aws.sqs.Queue] = {}
    dead_letters: dict[str, aws.sqs.Queue] = {}
    for q in queues:
        dlq = aws.sqs.Queue(
            naming.name("queue", q.dead_letter_name),
            name=naming.queue(q.dead_letter_name),
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
        )
        queue = aws.sqs.Queue(
            naming.name("queue", q.name),
            name=naming.queue(q.name),
            visibility_timeout_seconds=q.visibility_timeout_seconds,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            receive_wait_time_seconds=20,  # long polling: fewer empty receives, lower cost
            sqs_managed_sse_enabled=True,
            redrive_policy=_redrive_json(dlq.arn, q.max_receive_count),
        )
        # Only its own source queue may redrive into a dead-letter queue.
        aws.sqs.RedriveAllowPolicy(
            naming.name("queue", q.dead_letter_name),
            queue_url=dlq.url,
            redrive_allow_policy=queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
        )
        sources = [sns_topics[t] for t in q.subscribes_to]
        policy = aws.sqs.QueuePolicy(
            naming.name("queue", q.name),
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *[t.arn for t in sources]).apply(
                lambda arns: json.dumps(queue_policy(arns[0], arns[1:]))
            ),
        )
        for topic_name in q.subscribes_to:
            filter_policy = q.filter_policy(topic_name)
            aws.sns.TopicSubscription(
                naming.name("sub", topic_name, q.name),
                topic=sns_topics[topic_name].arn,
                protocol="sqs",
                endpoint=queue.arn,
                # The consumer reads the event envelope and traceparent attribute, not SNS's wrapper.
                raw_message_delivery=True,
                # Matched against message attributes (the default scope); see event_topology.TopicFilter.
                filter_policy=json.dumps(filter_policy) if filter_policy is not None else None,
                # Without the policy in place the first messages would be dropped.
                opts=pulumi.ResourceOptions(depends_on=[policy]),
            )
        sqs_queues[q.name] = queue
        dead_letters[q.name] = dlq
    return Messaging(topics=sns_topics, queues=sqs_queues, dead_letter_queues=dead_letters)
