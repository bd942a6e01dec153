"""IAM policy documents as plain data, derived from the routing table and event topology.

Pure functions (ARNs in, dicts out) so the least-privilege rules can be read and tested without
Pulumi: what a service may do follows only from its `publishes`, `consumes` and `sends_email`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from commerce_platform.event_topology import QUEUES
from commerce_platform.routing import ServiceRoute

Statement = dict[str, Any]
Document = dict[str, Any]

# X-Ray has no resource-level permissions: these actions only work with Resource "*".
XRAY_WRITE_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
)
# Neither does the registry login token.
ECR_AUTH_ACTIONS = ("ecr:GetAuthorizationToken",)
# Actions that may appear with Resource "*" because AWS offers nothing narrower.
UNSCOPABLE_ACTIONS = frozenset(XRAY_WRITE_ACTIONS + ECR_AUTH_ACTIONS)

SQS_CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    # Also /ready's broker check of a consumer (commerce_platform.aws.ping).
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)


def dead_letter_name(queue_name: str) -> str:
    return next(q.dead_letter_name for q in QUEUES if q.name == queue_name)


def document(statements: Sequence[Statement]) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def assume_role(service_principal: str, *, source_account: str | None = None) -> Document:
    statement: Statement = {
        "Effect": "Allow",
        "Principal": {"Service": service_principal},
        "Action": "sts:AssumeRole",
    }
    if source_account:
        # Confused-deputy guard: only tasks in this account can assume the role.
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return document([statement])


def task_role_statements(
    route: ServiceRoute,
    *,
    topic_arns: Mapping[str, str],
    queue_arns: Mapping[str, str],
    ses_identity_arn: str | None,
    ses_from_address: str | None,
) -> list[Statement]:
    """What a running service may call: its topics, its queues, SES if it mails, SMS if it texts, X-Ray."""
    statements: list[Statement] = []
    if route.publishes:
        statements.append(
            {
                "Sid": "PublishOwnTopics",
                "Effect": "Allow",
                # GetTopicAttributes: /ready's broker check of a publisher (commerce_platform.aws.ping).
                "Action": ["sns:Publish", "sns:GetTopicAttributes"],
                "Resource": [topic_arns[t] for t in route.publishes],
            }
        )
    if route.consumes:
        statements.append(
            {
                "Sid": "ConsumeOwnQueues",
                "Effect": "Allow",
                "Action": list(SQS_CONSUME_ACTIONS),
                "Resource": [queue_arns[q] for q in route.consumes],
            }
        )
        # A malformed message goes straight to its dead-letter queue (no pointless redeliveries).
        statements.append(
            {
                "Sid": "DeadLetterOwnQueues",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                "Resource": [queue_arns[dead_letter_name(q)] for q in route.consumes],
            }
        )
    if route.sends_email:
        if not ses_identity_arn:
            raise ValueError(f"{route.name} sends email: set commerce:sesFromAddress")
        ses: Statement = {
            "Sid": "SendEmail",
            "Effect": "Allow",
            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": [ses_identity_arn],
        }
        if ses_from_address:
            ses["Condition"] = {"StringEquals": {"ses:FromAddress": ses_from_address}}
        statements.append(ses)
    if route.sends_sms:
        # Texts are published to phone numbers, which have no ARN. NotResource over every topic
        # ARN allows exactly that and never a publish to a topic the service does not own.
        statements.append(
            {
                "Sid": "SendSms",
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "NotResource": ["arn:aws:sns:*:*:*"],
            }
        )
    # No Secrets Manager: ECS injects the secrets at start with the execution role, and nothing reads
    # them at runtime, so stolen task credentials cannot fetch the signing key or the Stripe keys.
    statements.append({"Sid": "WriteTraces", "Effect": "Allow", "Action": list(XRAY_WRITE_ACTIONS), "Resource": "*"})
    return statements


def execution_role_statements(
    *, repository_arns: Sequence[str], log_group_arns: Sequence[str], secret_arns: Sequence[str]
) -> list[Statement]:
    """What ECS itself needs to start a task: pull the image, write logs, inject the secrets."""
    statements: list[Statement] = [
        {"Sid": "RegistryLogin", "Effect": "Allow", "Action": list(ECR_AUTH_ACTIONS), "Resource": "*"},
        {
            "Sid": "PullOwnImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": list(repository_arns),
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{arn}:*" for arn in log_group_arns],
        },
    ]
    if secret_arns:
        statements.append(
            {
                "Sid": "InjectOwnSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": list(secret_arns),
            }
        )
    return statements


def queue_policy(queue_arn: str, topic_arns: Sequence[str]) -> Document:
    """Only SNS, and only for the topics this queue subscribes to, may send to the queue."""
    return document(
        [
            {
                "Sid": "AllowSubscribedTopics",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": list(topic_arns)}},
            }
        ]
    )


def redrive_policy(dead_letter_arn: str, max_receive_count: int) -> dict[str, Any]:
    return {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
