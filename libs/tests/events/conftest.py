"""Scratch schemas on the stack's Postgres and scratch topics/queues on its AWS endpoint, per test.

Nothing here touches the running services' schemas or queues: names carry a random suffix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.devstack.aws_emulator import REGION
from commerce_platform.events.schema import create_inbox_table, create_outbox_table
from commerce_platform.telemetry import configure_tracing, export_spans


def _migrate(connection: Connection) -> None:
    """What a service migration does: the platform's alembic operations, inside the service schema."""
    with Operations.context(MigrationContext.configure(connection)):
        create_outbox_table()
        create_inbox_table()
    # The test handlers' "business effect": one row per time a handler ran to commit.
    connection.execute(text("CREATE TABLE effect (event_id uuid NOT NULL, note text NOT NULL DEFAULT '')"))


@pytest.fixture
async def scratch_db(stack: Any) -> AsyncIterator[Database]:
    """A fresh schema with the outbox, inbox and an `effect` table; dropped afterwards."""
    schema = f"evt_{uuid4().hex[:12]}"
    database = Database(stack.admin_database_url, schema=schema, application_name="events-tests")
    async with database.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(_migrate)
    try:
        yield database
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await database.close()


@pytest.fixture(scope="session")
def aws(stack: Any) -> AwsClients:
    return AwsClients(region=REGION, endpoint_url=stack.aws_endpoint_url)


@dataclass
class ScratchTopology:
    """One SNS topic fanned out (raw delivery) to one queue with a dead-letter queue."""

    aws: AwsClients
    topic_arn: str
    queue_url: str
    dead_letter_url: str

    def topic_arn_for(self, _topic: str) -> str:
        # Every event topic of the catalog goes to the one scratch topic.
        return self.topic_arn

    async def send(self, body: str | bytes, attributes: dict[str, str] | None = None) -> None:
        async with self.aws.client("sqs") as sqs:
            await sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body.decode() if isinstance(body, bytes) else body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
                },
            )

    async def drain(self, queue_url: str, *, expect: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Receive and delete until `expect` messages arrived and one more short poll finds nothing."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        async with self.aws.client("sqs") as sqs:
            while time.monotonic() < deadline:
                response = await sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
                )
                batch = response.get("Messages", [])
                for message in batch:
                    await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                messages.extend(batch)
                if not batch and len(messages) >= expect:
                    break
        return messages

    async def depth(self, queue_url: str) -> int:
        """Visible plus in-flight messages."""
        async with self.aws.client("sqs") as sqs:
            attributes = (
                await sqs.get_queue_attributes(
                    QueueUrl=queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )
            )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


async def make_topology(aws: AwsClients, *, max_receive_count: int = 3, visibility_timeout: int = 2) -> ScratchTopology:
    name = f"evt-{uuid4().hex[:12]}"
    async with aws.client("sns") as sns, aws.client("sqs") as sqs:
        topic_arn = (await sns.create_topic(Name=name))["TopicArn"]
        dead_letter_url = (await sqs.create_queue(QueueName=f"{name}-dlq"))["QueueUrl"]
        dead_letter_arn = (await sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        queue_url = (
            await sqs.create_queue(
                QueueName=name,
                Attributes={
                    "VisibilityTimeout": str(visibility_timeout),
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receive_count)}
                    ),
                },
            )
        )["QueueUrl"]
        queue_arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))["Attributes"][
            "QueueArn"
        ]
        await sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
    return ScratchTopology(aws=aws, topic_arn=topic_arn, queue_url=queue_url, dead_letter_url=dead_letter_url)


@pytest.fixture
async def topology(aws: AwsClients) -> ScratchTopology:
    return await make_topology(aws)


@pytest.fixture
def topology_factory(aws: AwsClients) -> Callable[..., Awaitable[ScratchTopology]]:
    """`await topology_factory(max_receive_count=2, visibility_timeout=1)` for tests that need other settings."""

    async def make(**options: int) -> ScratchTopology:
        return await make_topology(aws, **options)

    return make


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Finished spans of this test process (the services' own spans go to their traces file)."""
    # The platform's own setup (a no-op if something in this process configured tracing already).
    configure_tracing("events-tests", otlp_endpoint=None, traces_file=None)
    exporter = InMemorySpanExporter()
    export_spans(SimpleSpanProcessor(exporter))
    return exporter


Eventually = Callable[..., Awaitable[None]]


async def _eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@pytest.fixture
def eventually() -> Eventually:
    """`await eventually(check, timeout=...)`: wait until the async `check()` holds, else fail."""
    return _eventually


@pytest.fixture
async def background() -> AsyncIterator[Callable[[Awaitable[None]], asyncio.Task[None]]]:
    """Start coroutines as tasks that are cancelled (like the service's shutdown does) after the test."""
    tasks: list[asyncio.Task[None]] = []

    def start(coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    crashed = [r for r in results if isinstance(r, Exception)]
    assert not crashed, f"a background worker crashed: {crashed}"


class PostgresProxy:
    """A TCP proxy in front of the stack's Postgres that can fail like a database in a failover:
    `down()` cuts every connection and refuses new ones, `up()` lets them through again."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._target = (url.host or "127.0.0.1", url.port or 5432)
        self._url = url
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def database(self, schema: str) -> Database:
        """A `Database` on `schema` that reaches Postgres only through this proxy."""
        url = self._url.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        return Database(url, schema=schema, application_name="events-tests-proxied")

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))


@pytest.fixture
async def postgres_proxy(stack: Any) -> AsyncIterator[PostgresProxy]:
    """The stack's Postgres behind a proxy the test can take down and bring back (starts up)."""
    proxy = PostgresProxy(stack.admin_database_url)
    await proxy.up()
    yield proxy
    await proxy.down()


Intercept = Callable[..., Awaitable[Any]]


class _InterceptingClient:
    def __init__(self, real: Any, intercepts: dict[str, Intercept]) -> None:
        self._real = real
        self._intercepts = intercepts

    def __getattr__(self, name: str) -> Any:
        intercept = self._intercepts.get(name)
        if intercept is None:
            return getattr(self._real, name)

        async def call(**request: Any) -> Any:
            return await intercept(self._real, **request)

        return call


class InterceptingAws:
    """Stands in for `AwsClients`: every call goes to the real endpoint, except the operations named
    in `intercepts`, which get `(real_client, **request)` and decide (spy on, alter or fake a reply)."""

    def __init__(self, real: AwsClients, **intercepts: Intercept) -> None:
        self.real = real
        self.intercepts = intercepts

    @contextlib.asynccontextmanager
    async def _client(self, service_name: str) -> AsyncIterator[_InterceptingClient]:
        async with self.real.client(service_name) as client:
            yield _InterceptingClient(client, self.intercepts)

    def client(self, service_name: str) -> Any:
        return self._client(service_name)


@pytest.fixture
def intercepting_aws(aws: AwsClients) -> Callable[..., InterceptingAws]:
    """`intercepting_aws(delete_message_batch=spy)`: the stack's AWS endpoint with some calls intercepted."""
    return lambda **intercepts: InterceptingAws(aws, **intercepts)
