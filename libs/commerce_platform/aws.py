"""aioboto3 clients for SNS, SQS and SES, pointed at AWS or at a local emulator (`AWS_ENDPOINT_URL`)."""

from __future__ import annotations

from typing import Any

import aioboto3
from botocore.config import Config as BotoConfig

_BOTO_CONFIG = BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=25)


class AwsClients:
    """One aioboto3 session per process; clients are cheap context managers over it."""

    def __init__(self, *, region: str, endpoint_url: str | None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.session = aioboto3.Session(region_name=region)

    def client(self, service_name: str) -> Any:
        """`async with aws.client("sqs") as sqs: ...`"""
        return self.session.client(service_name, endpoint_url=self.endpoint_url, config=_BOTO_CONFIG)

    async def ping(self) -> None:
        """Raise unless the message broker answers (used by /ready)."""
        async with self.client("sqs") as sqs:
            await sqs.list_queues(MaxResults=1)
