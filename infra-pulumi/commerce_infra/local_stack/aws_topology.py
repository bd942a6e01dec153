"""The topics, queues and mail identity the AWS emulator needs, as data for docker/aws/provision.py."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from commerce_infra.local_stack.constants import (
    AWS_ACCOUNT_ID,
    AWS_REGION,
    FROM_ADDRESS,
    GENERATED_HEADER,
)
from commerce_platform.event_topology import QUEUES, TOPICS, Queue, Topic


def topology(topics: Iterable[Topic] = TOPICS, queues: Iterable[Queue] = QUEUES) -> dict[str, Any]:
    return {
        "_comment": GENERATED_HEADER,
        "account_id": AWS_ACCOUNT_ID,
        "region": AWS_REGION,
        "topics": [t.name for t in topics],
        "queues": [
            {
                "name": q.name,
                "dead_letter": q.dead_letter_name,
                "max_receive_count": q.max_receive_count,
                "visibility_timeout_seconds": q.visibility_timeout_seconds,
                "subscribes_to": list(q.subscribes_to),
                "filter_policies": {
                    t: policy for t in q.subscribes_to if (policy := q.filter_policy(t)) is not None
                },
            }
            for q in queues
        ],
        "email_identities": [FROM_ADDRESS],
    }


def render_topology() -> str:
    return json.dumps(topology(), indent=2) + "\n"
