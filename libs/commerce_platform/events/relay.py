"""The outbox relay: publishes committed outbox rows to their SNS topics, at least once, oldest first.

One relay loop runs per service process (`outbox_relay_worker()` in `ServiceDefinition.workers`).
Each batch is claimed with `FOR UPDATE SKIP LOCKED`, published, and marked sent in the same
transaction, so two replicas never send a row at the same time, and a crash anywhere before the
commit leaves the rows pending for the next relay: a resend at worst, which consumers' inbox makes
harmless. The relay sleeps on the outbox's NOTIFY channel, with a short poll as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

import structlog
from litestar import Litestar
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Interval, Table, bindparam, delete, func, select

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.event_topology import QUEUES
from commerce_platform.events.catalog import MESSAGE_ATTRIBUTE_FIELDS
from commerce_platform.events.envelope import MalformedEvent, filter_attributes
from commerce_platform.events.outage import backoff_seconds
from commerce_platform.events.outbox import OutboxMessage
from commerce_platform.events.schema import outbox_channel
from commerce_platform.events.tracing import TRACEPARENT, context_from_traceparent, current_traceparent, tracer
from commerce_platform.listener import ChannelListener
from commerce_platform.service_app import BackgroundWorker
from commerce_platform.settings import PlatformSettings

log = structlog.get_logger("commerce.events.relay")

# SNS PublishBatch limits: 10 entries and 256 KiB in all (leave room for attributes and framing).
_BATCH_ENTRIES = 10
_BATCH_BYTES = 250_000
_PRUNE_EVERY_SECONDS = 3600.0
_LOOP_ERROR_MAX_SLEEP = 30.0

_outbox = cast(Table, OutboxMessage.__table__)

# Due rows, oldest first; rows another relay holds are skipped, not waited for.
_CLAIM = """
SELECT id, topic, event_type, payload, traceparent, attempts FROM outbox
WHERE sent_at IS NULL AND available_at <= now()
ORDER BY created_at LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_MARK_SENT = "UPDATE outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1::uuid[])"
_MARK_FAILED = """
UPDATE outbox SET attempts = attempts + 1, available_at = now() + make_interval(secs => f.delay),
    last_error = f.error
FROM unnest($1::uuid[], $2::float8[], $3::text[]) AS f(id, delay, error)
WHERE outbox.id = f.id
"""


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: UUID
    topic: str
    event_type: str
    payload: bytes
    traceparent: str | None
    attempts: int


class OutboxRelay:
    """Sends one schema's outbox to SNS until cancelled."""

    def __init__(
        self,
        database: Database,
        aws: AwsClients,
        *,
        topic_arn: Callable[[str], str],
        batch_size: int = 100,
        poll_interval_seconds: float = 1.0,
        publish_interval_seconds: float = 0.1,
        base_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._database = database
        self._aws = aws
        self._topic_arn = topic_arn
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        self._publish_interval = publish_interval_seconds
        self._base_backoff = base_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._retention = retention
        # Consecutive failures to get an SNS client; reset by a batch relayed through one.
        self._client_failures = 0
        self._log = log.bind(schema=database.schema)

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Relay until cancelled. Errors are logged and retried; they never end the loop."""
        wake = asyncio.Event()
        # Rows committed while nobody listened would otherwise wait for the next poll: wake on listening too.
        listen = ChannelListener(
            self._database,
            outbox_channel(self._database.schema),
            lambda _payload: wake.set(),
            log=self._log,
            meanwhile="polling",
            on_listening=wake.set,
        )
        listener = asyncio.create_task(listen.run(), name=f"outbox-listen-{self._database.schema}")
        try:
            while True:
                try:
                    async with self._aws.client("sns") as sns:
                        await self._relay_forever(sns, wake)
                except Exception:
                    self._client_failures += 1
                    self._log.exception(
                        "outbox relay: SNS client failed; restarting it", consecutive_failures=self._client_failures
                    )
                    await asyncio.sleep(
                        backoff_seconds(self._client_failures, first=2.0, cap=_LOOP_ERROR_MAX_SLEEP)
                    )
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _relay_forever(self, sns: Any, wake: asyncio.Event) -> None:
        failures = 0
        next_prune = time.monotonic()
        last_batch, backlog = -float("inf"), True
        while True:
            if not backlog:
                # Changes committed in a steady flow would each cost a publish of one row: claim at
                # most every `publish_interval`, so the rows committed meanwhile share one call. After
                # a quiet spell the last batch is long past and nothing waits.
                await asyncio.sleep(max(0.0, last_batch + self._publish_interval - time.monotonic()))
            # Cleared before the query: a NOTIFY that lands while the batch runs is not lost.
            wake.clear()
            last_batch = time.monotonic()
            try:
                handled = await self.relay_batch(sns)
                failures = self._client_failures = 0
            except Exception:
                failures += 1
                self._log.exception("outbox relay: batch failed", consecutive_failures=failures)
                await asyncio.sleep(backoff_seconds(failures, first=1.0, cap=_LOOP_ERROR_MAX_SLEEP))
                continue
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
                try:
                    await self.prune()
                except Exception:
                    self._log.exception("outbox relay: pruning sent rows failed")
            backlog = handled >= self._batch_size
            if backlog:
                continue  # a full batch: more are probably waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._poll_interval)

    # -- one batch -----------------------------------------------------------------------------
    async def relay_batch(self, sns: Any) -> int:
        """Claim, publish and settle one batch of due rows; returns how many rows it handled."""
        # Plain SQL on the asyncpg pool: the relay runs once per committed change, and SQLAlchemy's
        # compile-and-execute layer cost more CPU than the three statements themselves.
        async with self._database.transaction(worker=True) as conn:
            claimed = [ClaimedEvent(*row) for row in await conn.fetch(_CLAIM, self._batch_size)]
            if not claimed:
                return 0
            errors = await self._publish(sns, claimed)
            sent = [event.id for event in claimed if event.id not in errors]
            if sent:
                await conn.execute(_MARK_SENT, sent)
            failed = [event for event in claimed if event.id in errors]
            if failed:
                await conn.execute(
                    _MARK_FAILED,
                    [event.id for event in failed],
                    [self._backoff(event.attempts + 1).total_seconds() for event in failed],
                    [errors[event.id] for event in failed],
                )
        self._report(claimed, errors)
        return len(claimed)

    def _backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=backoff_seconds(attempts, first=self._base_backoff, cap=self._max_backoff))

    def _report(self, claimed: Sequence[ClaimedEvent], errors: dict[UUID, str]) -> None:
        for event in claimed:
            fields = {"event_id": str(event.id), "event_type": event.event_type, "topic": event.topic}
            if event.id in errors:
                self._log.warning(
                    "outbox relay: publish failed; will retry",
                    **fields,
                    attempts=event.attempts + 1,
                    retry_in_seconds=self._backoff(event.attempts + 1).total_seconds(),
                    error=errors[event.id],
                )
            else:
                self._log.debug("outbox relay: event published", **fields)
        self._log.info("outbox relay: batch relayed", sent=len(claimed) - len(errors), failed=len(errors))

    async def _publish(self, sns: Any, claimed: Sequence[ClaimedEvent]) -> dict[UUID, str]:
        """Publish every claimed row; returns the error of each row that did not go out."""
        chunks = list(_chunks(claimed))
        results = await asyncio.gather(
            *(self._publish_chunk(sns, topic, chunk) for topic, chunk in chunks), return_exceptions=True
        )
        errors: dict[UUID, str] = {}
        for (_topic, chunk), outcome in zip(chunks, results, strict=True):
            if isinstance(outcome, Exception):
                errors.update({event.id: f"{type(outcome).__name__}: {outcome}" for event in chunk})
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                errors.update(outcome)
        return errors

    async def _publish_chunk(self, sns: Any, topic: str, chunk: Sequence[ClaimedEvent]) -> dict[UUID, str]:
        spans = [
            # The writer's traceparent is the parent, so the publish joins the trace of the change.
            tracer.start_span(
                f"{topic} publish",
                context=context_from_traceparent(event.traceparent),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "aws_sns",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                    "messaging.message.id": str(event.id),
                    "commerce.event_type": event.event_type,
                },
            )
            for event in chunk
        ]
        errors: dict[UUID, str] = {}
        try:
            entries = [
                {
                    "Id": str(index),
                    "Message": event.payload.decode(),
                    "MessageAttributes": _message_attributes(event, span),
                }
                for index, (event, span) in enumerate(zip(chunk, spans, strict=True))
            ]
            response = await sns.publish_batch(TopicArn=self._topic_arn(topic), PublishBatchRequestEntries=entries)
            failed = {entry["Id"]: entry for entry in response.get("Failed", [])}
            for index, (event, span) in enumerate(zip(chunk, spans, strict=True)):
                failure = failed.get(str(index))
                if failure is not None:
                    errors[event.id] = f"{failure.get('Code')}: {failure.get('Message')}"
                    span.set_status(Status(StatusCode.ERROR, errors[event.id]))
        except Exception as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            for span in spans:
                span.end()
        return errors

    # -- housekeeping --------------------------------------------------------------------------
    async def prune(self, older_than: timedelta | None = None) -> int:
        """Delete rows sent longer ago than the retention, in slices so no statement runs long."""
        cutoff = func.now() - bindparam("age", older_than or self._retention, type_=Interval())
        deleted = 0
        while True:
            async with self._database.engine.begin() as conn:
                doomed = (
                    select(_outbox.c.id)
                    .where(_outbox.c.sent_at.is_not(None), _outbox.c.sent_at < cutoff)
                    .limit(5000)
                    .scalar_subquery()
                )
                result = await conn.execute(delete(_outbox).where(_outbox.c.id.in_(doomed)))
            deleted += result.rowcount
            if result.rowcount < 5000:
                return deleted

def _message_attributes(event: ClaimedEvent, span: trace.Span) -> dict[str, dict[str, str]]:
    attributes = {"event_type": {"DataType": "String", "StringValue": event.event_type}}
    try:
        extra = filter_attributes(event.event_type, event.payload)
    except MalformedEvent as exc:
        # Sent all the same, holding it back would not fix it. Left without its attributes, it would
        # be dropped by every subscription filtering on them, silently (an old replica's relay meets a
        # newer version during a rolling deploy): sent with values every filter lets through, each
        # subscriber gets it and applies it, or dead-letters it where someone will look.
        extra = _permissive_attributes(event.event_type, event.topic)
        log.warning(
            "outbox relay: cannot read the filter attributes of an outbox row; sent so that every subscriber gets it",
            event_id=str(event.id),
            event_type=event.event_type,
            error=str(exc),
            attributes=extra,
        )
    for name, value in extra.items():
        attributes[name] = {"DataType": "String", "StringValue": value}
    traceparent = current_traceparent(trace.set_span_in_context(span))
    if traceparent:
        attributes[TRACEPARENT] = {"DataType": "String", "StringValue": traceparent}
    return attributes


def _permissive_attributes(event_type: str, topic: str) -> dict[str, str]:
    """For each attribute `event_type` carries, a value that every queue filtering `topic` on it
    accepts (`available_changed`: "true"). An attribute no filter uses is left out, as is one whose
    filters accept no common value (the topology would then be contradictory)."""
    attributes: dict[str, str] = {}
    for name in MESSAGE_ATTRIBUTE_FIELDS.get(event_type, ()):
        accepted = [set(f.values) for q in QUEUES for f in q.filters if f.topic == topic and f.attribute == name]
        common = set.intersection(*accepted) if accepted else set()
        if common:
            attributes[name] = min(common)
    return attributes


def _chunks(claimed: Sequence[ClaimedEvent]) -> Iterator[tuple[str, list[ClaimedEvent]]]:
    """PublishBatch-sized groups per topic. Chunks go out concurrently: SNS standard topics and SQS
    standard queues do not keep order anyway, so consumers rely on revisions, not arrival order."""
    by_topic: dict[str, list[ClaimedEvent]] = {}
    for event in claimed:
        by_topic.setdefault(event.topic, []).append(event)
    for topic, events in by_topic.items():
        chunk: list[ClaimedEvent] = []
        size = 0
        for event in events:
            if chunk and (len(chunk) == _BATCH_ENTRIES or size + len(event.payload) > _BATCH_BYTES):
                yield topic, chunk
                chunk, size = [], 0
            chunk.append(event)
            size += len(event.payload)
        if chunk:
            yield topic, chunk


def outbox_relay_worker(**options: Any) -> BackgroundWorker:
    """The relay as a `ServiceDefinition.workers` entry; topic ARNs come from the service's settings.

    `options` go to `OutboxRelay` (batch_size, poll_interval_seconds, ...).
    """

    async def outbox_relay(app: Litestar) -> None:
        settings: PlatformSettings = app.state["settings"]
        database: Database = app.state["database"]
        aws: AwsClients = app.state["aws"]
        await OutboxRelay(database, aws, topic_arn=settings.topic_arn, **options).run()

    return outbox_relay
