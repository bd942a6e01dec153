"""`/ready`'s broker check against a real moto server: it answers, and every AWS call it makes is
one the service's task role (policy_documents) allows on that very resource, so it holds in AWS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from litestar.testing import AsyncTestClient
from moto.server import ThreadedMotoServer

from commerce_infra.policy_documents import task_role_statements
from commerce_platform.aws import AwsClients
from commerce_platform.devstack.aws_emulator import ACCOUNT_ID, REGION, provision_topology
from commerce_platform.devstack.processes import free_port
from commerce_platform.event_topology import QUEUES
from commerce_platform.routing import SERVICES, ServiceRoute
from commerce_platform.service_app import ServiceApp, ServiceDefinition, create_service_app
from commerce_platform.settings import PlatformSettings

BROKER_USERS = [r for r in SERVICES if r.publishes or r.consumes]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


# In-process moto servers share one state: other tests' topology must not collide with this one.
PREFIX = f"ready-{uuid4().hex[:8]}-"


@pytest.fixture(scope="module")
async def provisioned(endpoint: str) -> str:
    await provision_topology(AwsClients(region=REGION, endpoint_url=endpoint), name_prefix=PREFIX)
    return endpoint


def _settings(endpoint: str, queue_prefix: str | None = None) -> PlatformSettings:
    return PlatformSettings(
        database_url=f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/none",
        run_migrations_on_start=False,
        run_mode="web",
        access_log=False,
        aws_region=REGION,
        aws_endpoint_url=endpoint,
        sns_topic_arn_prefix=f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{PREFIX}",
        sqs_queue_url_prefix=queue_prefix or f"{endpoint}/{ACCOUNT_ID}/{PREFIX}",
    )


async def _ready(route: ServiceRoute, settings: PlatformSettings, tmp_path: Path) -> tuple[str, list[tuple[str, str]]]:
    """The broker check's result and the (IAM action, resource ARN) of every AWS call it made."""
    app = create_service_app(
        ServiceDefinition(name=route.name, route_handlers=[], migrations_dir=tmp_path), settings=settings
    )
    aws: AwsClients = app.state["aws"]
    calls: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        # The API parameters as the caller passed them, before the protocol serialises them.
        if "QueueUrl" in params:
            resource = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{params['QueueUrl'].rsplit('/', 1)[1]}"
        else:
            resource = params.get("TopicArn", "*")
        calls.append((f"{model.service_model.endpoint_prefix}:{model.name}", resource))

    aws.session.events.register("before-parameter-build", record)
    client: AsyncTestClient[ServiceApp]
    async with AsyncTestClient(app) as client:
        response = await client.get("/ready")
    return response.json()["checks"]["broker"], calls


def _allowed(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    return any(
        s["Effect"] == "Allow" and action in s["Action"] and resource in s.get("Resource", []) for s in statements
    )


@pytest.mark.parametrize("route", BROKER_USERS, ids=lambda r: r.name)
async def test_broker_check_uses_only_what_the_task_role_allows(
    provisioned: str, route: ServiceRoute, tmp_path: Path
) -> None:
    result, calls = await _ready(route, _settings(provisioned), tmp_path)
    assert result == "ok"
    assert calls, "the check must reach the broker"
    queue_names = [q.name for q in QUEUES] + [q.dead_letter_name for q in QUEUES]
    statements = task_role_statements(
        route,
        topic_arns={t: f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{PREFIX}{t}" for t in route.publishes},
        queue_arns={name: f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{PREFIX}{name}" for name in queue_names},
        ses_identity_arn=f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/shop@example.com",
        ses_from_address=None,
    )
    for action, resource in calls:
        assert _allowed(statements, action, resource), (route.name, action, resource)


async def test_broker_check_fails_when_its_queue_is_missing(provisioned: str, tmp_path: Path) -> None:
    consumer = next(r for r in SERVICES if r.consumes)
    settings = _settings(provisioned, queue_prefix=f"{provisioned}/{ACCOUNT_ID}/missing-")
    result, _calls = await _ready(consumer, settings, tmp_path)
    assert result.startswith("failed")
