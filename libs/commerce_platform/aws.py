"""aioboto3 clients for SNS, SQS and SES, pointed at AWS or at a local emulator (`AWS_ENDPOINT_URL`)."""

from __future__ import annotations

from typing import Any

import aioboto3
from botocore.config import Config as BotoConfig

_BOTO_CONFIG = BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=25)
# For calls that must not be repeated blindly: botocore retries after a read timeout too, when the
# first request may well have taken effect (SES SendEmail would send the email twice). The caller
# retries on its own terms. `total_max_attempts` counts the first try; `max_attempts` does not.
_NO_RETRY_CONFIG = _BOTO_CONFIG.merge(BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"}))


class AwsClients:
    """One aioboto3 session per process; clients are cheap context managers over it."""

    def __init__(self, *, region: str, endpoint_url: str | None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.session = aioboto3.Session(region_name=region)

    def client(self, service_name: str, *, retry: bool = True) -> Any:
        """`async with aws.client("sqs") as sqs: ...`; `retry=False` for calls that are not idempotent."""
        config = _BOTO_CONFIG if retry else _NO_RETRY_CONFIG
        return self.session.client(service_name, endpoint_url=self.endpoint_url, config=config)

    async def ping(self, *, queue_url: str | None = None, topic_arn: str | None = None) -> None:
        """Raise unless the message broker answers (used by /ready).

        Reads an attribute of the service's own queue (consumers) or topic (publishers): actions
        its task role holds on exactly those resources (policy_documents.task_role_statements).
        A listing such as sqs:ListQueues would need Resource "*", and no role has it.
        """
        if queue_url is not None:
            async with self.client("sqs") as sqs:
                await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        elif topic_arn is not None:
            async with self.client("sns") as sns:
                await sns.get_topic_attributes(TopicArn=topic_arn)
        else:
            raise ValueError("ping needs the service's own queue_url or topic_arn")
