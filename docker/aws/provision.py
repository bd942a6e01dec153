"""Create the event topology (topics, queues, dead-letter queues, subscriptions) and the sender
identity in the local AWS emulator, from the topology.json rendered out of event_topology.py.

Runs once in compose (`aws-init`) before the services start; safe to run again.
Usage: python provision.py topology.json   (AWS_ENDPOINT_URL and test credentials from the env)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3


def _clients(region: str) -> tuple[Any, Any, Any]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return tuple(boto3.client(name, region_name=region, endpoint_url=endpoint) for name in ("sns", "sqs", "ses"))  # type: ignore[return-value]


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _only_from_topics(queue_arn: str, topic_arns: list[str]) -> str:
    # moto delivers without it, real SQS does not: keep the local policy identical to Pulumi's.
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowSubscribedTopics",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
                }
            ],
        }
    )


def provision(topology: dict[str, Any]) -> dict[str, str]:
    """Returns name -> ARN (topics) or URL (queues) of everything it made sure exists."""
    sns, sqs, ses = _clients(topology["region"])
    made: dict[str, str] = {}
    topic_arns = {name: sns.create_topic(Name=name)["TopicArn"] for name in topology["topics"]}
    made |= topic_arns
    for queue in topology["queues"]:
        dlq_url = sqs.create_queue(QueueName=queue["dead_letter"])["QueueUrl"]
        redrive = {"deadLetterTargetArn": _queue_arn(sqs, dlq_url), "maxReceiveCount": queue["max_receive_count"]}
        url = sqs.create_queue(
            QueueName=queue["name"],
            Attributes={
                "VisibilityTimeout": str(queue["visibility_timeout_seconds"]),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        arn = _queue_arn(sqs, url)
        sources = [topic_arns[t] for t in queue["subscribes_to"]]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _only_from_topics(arn, sources)})
        for topic_name in queue["subscribes_to"]:
            attributes = {"RawMessageDelivery": "true"}
            if topic_name in queue.get("filter_policies", {}):
                attributes["FilterPolicy"] = json.dumps(queue["filter_policies"][topic_name])
            sns.subscribe(
                TopicArn=topic_arns[topic_name],
                Protocol="sqs",
                Endpoint=arn,
                Attributes=attributes,
            )
        made[queue["name"]] = url
        made[queue["dead_letter"]] = dlq_url
    for address in topology.get("email_identities", []):
        ses.verify_email_identity(EmailAddress=address)
    return made


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    made = provision(json.loads(Path(argv[1]).read_text()))
    for name in sorted(made):
        print(f"ready: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
