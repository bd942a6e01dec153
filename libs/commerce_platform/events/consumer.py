"""Idempotent SQS consumers: long polling, bounded concurrency, one transaction per event, delete after commit.

A service lists `queue_consumer_worker(queue, handlers)` in `ServiceDefinition.workers`. Each message
is decoded strictly; a malformed one goes straight to the queue's dead-letter queue. A handler runs
in one database transaction together with the inbox row of its event id, so a redelivered event is
skipped, and the message is deleted only after that transaction commits. A failing handler leaves
the message for SQS to redeliver (with a growing delay) until the redrive policy moves it to the
dead-letter queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, cast

import structlog
from litestar import Litestar
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Interval, Table, bindparam, delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.events.catalog import EVENT_TYPES, EventData
from commerce_platform.events.envelope import Envelope, MalformedEvent, decode_event
from commerce_platform.events.inbox import InboxRecord, claim_event
from commerce_platform.events.tracing import context_from_traceparent, traceparent_attribute, tracer
from commerce_platform.service_app import BackgroundWorker
from commerce_platform.settings import PlatformSettings, SettingsError

log = structlog.get_logger("commerce.events.consumer")

# Runs inside the consumer's transaction; must not commit or roll back the session itself.
Handler = Callable[[AsyncSession, Envelope, EventData], Awaitable[None]]

_SQS_MAX_MESSAGES = 10
_SQS_MAX_WAIT_SECONDS = 20
_SQS_MAX_ATTRIBUTES = 10
_PRUNE_EVERY_SECONDS = 3600.0
_LOOP_ERROR_MAX_SLEEP = 30.0
_inbox = cast(Table, InboxRecord.__table__)


def check_handlers(handlers: Mapping[str, Handler]) -> None:
    """Fail at start, not at the first message, when a handler names an event type that does not exist."""
    unknown = sorted(set(handlers) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"handlers for unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")


class QueueConsumer:
    """Consumes one SQS queue into one service schema until cancelled."""

    def __init__(
        self,
        database: Database,
        aws: AwsClients,
        *,
        queue_url: str,
        handlers: Mapping[str, Handler],
        consumer: str,
        concurrency: int = 10,
        wait_time_seconds: int = _SQS_MAX_WAIT_SECONDS,
        retry_base_seconds: float = 1.0,
        dead_letter_queue_url: str | None = None,
        # Longer than SQS's longest message retention (14 days): an event can't outlive its record.
        inbox_retention: timedelta = timedelta(days=15),
    ) -> None:
        check_handlers(handlers)
        self._database = database
        self._aws = aws
        self._queue_url = queue_url
        self.queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        self._handlers = dict(handlers)
        self._consumer = consumer
        self._concurrency = max(1, concurrency)
        self._wait_time = min(_SQS_MAX_WAIT_SECONDS, max(0, wait_time_seconds))
        self._retry_base = retry_base_seconds
        self._dead_letter_url = dead_letter_queue_url
        self._inbox_retention = inbox_retention
        # Read from the queue at start; the default only matters until then.
        self._visibility_timeout = 30
        self._log = log.bind(queue=self.queue_name, consumer=consumer)

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until cancelled. Errors are logged and retried; they never end the loop."""
        pruner = asyncio.create_task(self._prune_periodically(), name=f"inbox-prune-{self._consumer}")
        failures = 0
        try:
            while True:
                try:
                    async with self._aws.client("sqs") as sqs:
                        await self._prepare(sqs)
                        failures = 0
                        await self._consume(sqs)
                except Exception:
                    failures += 1
                    self._log.exception(
                        "queue consumer: cannot reach the queue; retrying", consecutive_failures=failures
                    )
                    await asyncio.sleep(min(_LOOP_ERROR_MAX_SLEEP, 2.0**failures))
        finally:
            pruner.cancel()
            await asyncio.gather(pruner, return_exceptions=True)

    async def _prepare(self, sqs: Any) -> None:
        """Learn the queue's visibility timeout, and its dead-letter queue from the redrive policy,
        so the consumer follows whatever the infrastructure declared."""
        response = await sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )
        attributes: dict[str, str] = response.get("Attributes", {})
        self._visibility_timeout = int(attributes.get("VisibilityTimeout", self._visibility_timeout))
        if self._dead_letter_url is None and "RedrivePolicy" in attributes:
            self._dead_letter_url = _dead_letter_url(self._queue_url, attributes["RedrivePolicy"])
        if self._dead_letter_url is None:
            self._log.warning("queue consumer: no dead-letter queue; malformed messages stay until redrive")
        self._log.info(
            "queue consumer: started",
            visibility_timeout=self._visibility_timeout,
            dead_letter_queue=self._dead_letter_url,
            concurrency=self._concurrency,
        )

    async def _consume(self, sqs: Any) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        failures = 0
        try:
            while True:
                # Never hold more messages than can be worked on: the rest stay visible to other replicas.
                while len(in_flight) >= self._concurrency:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                try:
                    response = await sqs.receive_message(
                        QueueUrl=self._queue_url,
                        MaxNumberOfMessages=min(_SQS_MAX_MESSAGES, self._concurrency - len(in_flight)),
                        WaitTimeSeconds=self._wait_time,
                        MessageAttributeNames=["All"],
                        MessageSystemAttributeNames=["ApproximateReceiveCount"],
                    )
                    failures = 0
                except Exception:
                    failures += 1
                    self._log.exception("queue consumer: receive failed", consecutive_failures=failures)
                    await asyncio.sleep(min(_LOOP_ERROR_MAX_SLEEP, 0.5 * 2.0**failures))
                    continue
                for message in response.get("Messages", []):
                    task = asyncio.create_task(self._process(sqs, message))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            # Shutdown: interrupted handlers roll back and hand their messages back to the queue.
            interrupted = list(in_flight)
            for task in interrupted:
                task.cancel()
            await asyncio.gather(*interrupted, return_exceptions=True)

    # -- one message ---------------------------------------------------------------------------
    async def _process(self, sqs: Any, message: dict[str, Any]) -> None:
        receipt: str = message["ReceiptHandle"]
        try:
            try:
                envelope, data = decode_event(message.get("Body", ""))
            except MalformedEvent as exc:
                await self._dead_letter(sqs, message, str(exc))
                return
            await self._handle(sqs, message, envelope, data)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await sqs.change_message_visibility(
                        QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                    )
            raise
        except Exception:
            # The message stays in flight and comes back after its visibility timeout.
            self._log.exception("queue consumer: message processing failed", message_id=message.get("MessageId"))

    async def _handle(self, sqs: Any, message: dict[str, Any], envelope: Envelope, data: EventData) -> None:
        receipt: str = message["ReceiptHandle"]
        event_log = self._log.bind(event_id=str(envelope.id), event_type=envelope.type)
        handler = self._handlers.get(envelope.type)
        if handler is None:
            # A queue may carry topics with types this service does not care about.
            await self._delete(sqs, receipt)
            event_log.debug("queue consumer: no handler for this event type; acknowledged")
            return
        parent = context_from_traceparent(traceparent_attribute(message.get("MessageAttributes", {})))
        with tracer.start_as_current_span(
            f"{self.queue_name} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "aws_sqs",
                "messaging.operation.type": "process",
                "messaging.destination.name": self.queue_name,
                "messaging.message.id": str(envelope.id),
                "commerce.event_type": envelope.type,
                "commerce.consumer": self._consumer,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            heartbeat = asyncio.create_task(self._keep_invisible(sqs, receipt, event_log))
            try:
                applied = await self._apply(handler, envelope, data)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                delay = self._retry_delay(receive_count)
                event_log.exception(
                    "queue consumer: handler failed; the message will be redelivered",
                    receive_count=receive_count,
                    retry_in_seconds=delay,
                )
                await sqs.change_message_visibility(
                    QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay
                )
                return
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            span.set_attribute("commerce.duplicate", not applied)
            await self._delete(sqs, receipt)
            if applied:
                event_log.info("queue consumer: event applied")
            else:
                event_log.info("queue consumer: duplicate event skipped")

    async def _apply(self, handler: Handler, envelope: Envelope, data: EventData) -> bool:
        """Run the handler in one transaction with the inbox row; False when the event was applied before."""
        async with AsyncSession(self._database.engine, expire_on_commit=False) as session, session.begin():
            if not await claim_event(session, self._consumer, envelope.id):
                return False
            await handler(session, envelope, data)
        return True

    async def _keep_invisible(self, sqs: Any, receipt: str, event_log: Any) -> None:
        """Extend a slow handler's lease before it runs out, so no other consumer starts the same event."""
        interval = max(1.0, self._visibility_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            try:
                await sqs.change_message_visibility(
                    QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=self._visibility_timeout
                )
                event_log.info("queue consumer: handler still running; visibility extended")
            except Exception:
                event_log.warning("queue consumer: could not extend visibility", exc_info=True)

    def _retry_delay(self, receive_count: int) -> int:
        # Quick retries for blips, slower for lasting failures, never beyond the visibility timeout.
        return int(min(self._visibility_timeout, self._retry_base * 2.0 ** min(receive_count - 1, 30)))

    async def _delete(self, sqs: Any, receipt: str) -> None:
        try:
            await sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)
        except Exception:
            # Committed already: a redelivery is skipped by the inbox, so this only costs a receive.
            self._log.warning("queue consumer: delete after commit failed", exc_info=True)

    async def _dead_letter(self, sqs: Any, message: dict[str, Any], reason: str) -> None:
        bad_log = self._log.bind(message_id=message.get("MessageId"), reason=reason)
        if self._dead_letter_url is None:
            # Cycle it through its receives quickly so the redrive policy (if any) takes it away.
            bad_log.error("queue consumer: malformed message; no dead-letter queue known, left for redrive")
            receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            await sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self._retry_delay(receive_count),
            )
            return
        attributes = {
            name: {key: value for key, value in attribute.items() if key in ("DataType", "StringValue", "BinaryValue")}
            for name, attribute in message.get("MessageAttributes", {}).items()
        }
        if len(attributes) < _SQS_MAX_ATTRIBUTES:
            attributes["dead_letter_reason"] = {"DataType": "String", "StringValue": reason[:1024]}
        await sqs.send_message(
            QueueUrl=self._dead_letter_url, MessageBody=message.get("Body") or "(empty)", MessageAttributes=attributes
        )
        await self._delete(sqs, message["ReceiptHandle"])
        bad_log.error("queue consumer: malformed message moved to the dead-letter queue")

    # -- housekeeping --------------------------------------------------------------------------
    async def prune(self, older_than: timedelta | None = None) -> int:
        """Forget inbox records older than the retention; returns how many were deleted."""
        age = bindparam("age", older_than or self._inbox_retention, type_=Interval())
        async with self._database.engine.begin() as conn:
            result = await conn.execute(
                delete(_inbox).where(_inbox.c.consumer == self._consumer, _inbox.c.processed_at < func.now() - age)
            )
        return result.rowcount

    async def _prune_periodically(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                self._log.exception("queue consumer: pruning the inbox failed")
            await asyncio.sleep(_PRUNE_EVERY_SECONDS)


def _dead_letter_url(queue_url: str, redrive_policy: str) -> str:
    """The dead-letter queue's URL, built from the redrive policy's ARN rather than asked for, so
    the consumer needs no permission beyond sending to it. SQS URLs are `<endpoint>/<account>/<name>`."""
    target_arn: str = json.loads(redrive_policy)["deadLetterTargetArn"]
    _arn, _partition, _service, _region, account, name = target_arn.split(":", 5)
    endpoint = queue_url.rstrip("/").rsplit("/", 2)[0]
    return f"{endpoint}/{account}/{name}"


def queue_consumer_worker(
    queue: str, handlers: Mapping[str, Handler], *, consumer: str | None = None, **options: Any
) -> BackgroundWorker:
    """A consumer of `queue` as a `ServiceDefinition.workers` entry; the queue URL comes from settings.

    `consumer` names the inbox records (default: the queue name); `options` go to `QueueConsumer`.
    """
    check_handlers(handlers)

    async def consume(app: Litestar) -> None:
        settings: PlatformSettings = app.state["settings"]
        try:
            queue_url = settings.queue_url(queue)
        except SettingsError:
            log.exception("queue consumer: not started", queue=queue)
            raise
        await QueueConsumer(
            app.state["database"],
            app.state["aws"],
            queue_url=queue_url,
            handlers=handlers,
            consumer=consumer or queue,
            **options,
        ).run()

    consume.__name__ = consume.__qualname__ = f"consume_{queue.replace('-', '_')}"
    return consume
