"""Idempotent SQS consumers: long polling, bounded concurrency, one transaction per event, delete after commit.

A service lists `queue_consumer_worker(queue, handlers)` in `ServiceDefinition.workers`. A message of
a type without a handler is acknowledged; one with a handler is decoded strictly, and a malformed one
goes straight to the queue's dead-letter queue. A handler runs in one database transaction together
with the inbox row of its event id, so a redelivered event is skipped, and the message is deleted
only after that transaction commits. A failing handler leaves the message for SQS to redeliver
(with a growing delay) until the redrive policy moves it to the dead-letter queue; a handler that
runs too long fails the same way. A failure that is an outage (the database or a called service out
of reach, see `outage.py`) is not the message's fault: the message is handed back and receiving
pauses until the database answers again. The transaction is plain SQL on a connection of the
service's asyncpg pool, from the workers' share (`Database.transaction`): an ORM session per
message cost much of the consumers' CPU.

SQS calls are batched, because each call costs client and broker CPU: messages are received up to
ten at a time, and a queue that is never empty for long is received from at most every
`receive_interval_seconds` (0.2 s) unless the last receive came back full, so a steady flow arrives
a few messages per call rather than one; deletes of committed messages are gathered into
`DeleteMessageBatch` calls (ten entries, or whatever is pending a second after the first, and
everything at shutdown); one lease keeper extends the visibility of all slow handlers' messages
with `ChangeMessageVisibilityBatch`. Neither delay costs anything when a queue is quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import asyncpg
import structlog
from litestar import Litestar
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Interval, Table, bindparam, delete, func

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.events.catalog import EVENT_TYPES, EventData
from commerce_platform.events.envelope import Envelope, MalformedEvent, decode_data, decode_envelope
from commerce_platform.events.inbox import InboxRecord, claim_event
from commerce_platform.events.outage import HandlerTimedOut, OutageBreaker, backoff_seconds, is_outage
from commerce_platform.events.tracing import context_from_traceparent, traceparent_attribute, tracer
from commerce_platform.service_app import BackgroundWorker
from commerce_platform.settings import PlatformSettings, SettingsError

log = structlog.get_logger("commerce.events.consumer")

# Runs inside the consumer's transaction, open on the connection it gets: it must not commit or roll
# back, nor take a second pool connection (see `Database.transaction`). Raising rolls everything back.
Handler = Callable[[asyncpg.Connection, Envelope, EventData], Awaitable[None]]

_SQS_MAX_MESSAGES = 10
_SQS_MAX_WAIT_SECONDS = 20
_SQS_MAX_ATTRIBUTES = 10
# Entries per SQS batch call (DeleteMessageBatch, ChangeMessageVisibilityBatch).
_SQS_BATCH_ENTRIES = 10
# How often a delete that failed for a reason other than the request itself is tried again;
# after that the message comes back after its visibility timeout and the inbox skips it.
_DELETE_ATTEMPTS = 3
# At shutdown, pending deletes get this long; whatever does not make it is redelivered and skipped.
_SHUTDOWN_FLUSH_SECONDS = 3.0
_PRUNE_EVERY_SECONDS = 3600.0
_LOOP_ERROR_MAX_SLEEP = 30.0
# A failing message comes back after 1 s, 2 s, 4 s ... (with the default base): the queue's visibility
# timeout (30 s) is no limit, since ChangeMessageVisibility takes up to 12 h, but a quarter of an hour is.
MAX_RETRY_DELAY_SECONDS = 900
# How long the database gets to answer the breaker's `SELECT 1` while receiving is paused.
_PROBE_TIMEOUT_SECONDS = 5.0
_inbox = cast(Table, InboxRecord.__table__)


async def apply_event(database: Database, consumer: str, handler: Handler, envelope: Envelope, data: EventData) -> bool:
    """Run `handler` in one transaction with the inbox row of `envelope`; False, and the handler not
    run, when `consumer` applied this event before."""
    async with database.transaction(worker=True) as conn:
        if not await claim_event(conn, consumer, envelope.id):
            return False
        await handler(conn, envelope, data)
    return True


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
        delete_delay_seconds: float = 1.0,
        receive_linger_seconds: float = 0.05,
        receive_interval_seconds: float = 0.2,
        # A handler still running after this long fails (retried, then dead-lettered), rather than
        # holding its message, a concurrency slot and a database connection for good.
        handler_timeout_seconds: float = 60.0,
        # While a dependency is down, receiving pauses this long, doubling up to the maximum.
        outage_first_pause_seconds: float = 1.0,
        outage_max_pause_seconds: float = 60.0,
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
        self._delete_delay = delete_delay_seconds
        self._receive_linger = receive_linger_seconds
        self._receive_interval = receive_interval_seconds
        self._handler_timeout = handler_timeout_seconds
        self._breaker = OutageBreaker(first_pause=outage_first_pause_seconds, max_pause=outage_max_pause_seconds)
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
                    await asyncio.sleep(backoff_seconds(failures, first=2.0, cap=_LOOP_ERROR_MAX_SLEEP))
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
        deletes = BatchDeleter(sqs, self._queue_url, max_delay=self._delete_delay, log=self._log)
        leases = LeaseKeeper(sqs, self._queue_url, visibility_timeout=self._visibility_timeout, log=self._log)
        deletes.start()
        lease_keeper = asyncio.create_task(leases.run(), name=f"sqs-leases-{self.queue_name}")
        conn = _Connection(sqs, deletes, leases)
        in_flight: set[asyncio.Task[None]] = set()
        failures = 0
        # When the last receive was issued, and whether it came back full (a backlog: go on at once).
        last_receive, last_full = -float("inf"), True
        try:
            while True:
                await self._wait_out_outage(in_flight)
                # Never hold more messages than can be worked on: the rest stay visible to other replicas.
                await self._wait_for_room(in_flight)
                if not last_full:
                    # A steady trickle would otherwise cost one receive (and one delete) per message:
                    # receive at most every `receive_interval`, so what arrives meanwhile comes in one
                    # call. An idle queue pays nothing: its long poll already took longer than that.
                    await asyncio.sleep(max(0.0, last_receive + self._receive_interval - time.monotonic()))
                trial = self._breaker.state == "trial"
                wanted = 1 if trial else min(_SQS_MAX_MESSAGES, self._concurrency - len(in_flight))
                last_receive = time.monotonic()
                try:
                    response = await sqs.receive_message(
                        QueueUrl=self._queue_url,
                        MaxNumberOfMessages=wanted,
                        WaitTimeSeconds=self._wait_time,
                        MessageAttributeNames=["All"],
                        MessageSystemAttributeNames=["ApproximateReceiveCount"],
                    )
                    failures = 0
                except Exception:
                    failures += 1
                    self._log.exception("queue consumer: receive failed", consecutive_failures=failures)
                    await asyncio.sleep(backoff_seconds(failures, first=1.0, cap=_LOOP_ERROR_MAX_SLEEP))
                    continue
                received_at = time.monotonic()
                # A trial receive of one says nothing about a backlog.
                last_full = not trial and len(response.get("Messages", [])) >= wanted
                for message in response.get("Messages", []):
                    leases.hold(message["ReceiptHandle"], received_at)
                    task = asyncio.create_task(self._process(conn, message))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            # Shutdown: interrupted handlers roll back and hand their messages back to the queue;
            # committed ones still waiting for their delete get it now.
            interrupted = list(in_flight)
            for task in interrupted:
                task.cancel()
            await asyncio.gather(*interrupted, return_exceptions=True)
            lease_keeper.cancel()
            await asyncio.gather(lease_keeper, return_exceptions=True)
            await deletes.close(_SHUTDOWN_FLUSH_SECONDS)

    async def _wait_for_room(self, in_flight: set[asyncio.Task[None]]) -> None:
        """Wait until a receive can take a worthwhile batch: at least half of what one receive may
        bring, or any free slot once the handlers in hand have had `receive_linger` to finish.
        Without this, a busy consumer would receive one message per finished handler."""
        worthwhile = max(1, (min(_SQS_MAX_MESSAGES, self._concurrency) + 1) // 2)
        deadline: float | None = None
        while (room := self._concurrency - len(in_flight)) < worthwhile:
            if room <= 0:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            if deadline is None:
                deadline = time.monotonic() + self._receive_linger
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.wait(in_flight, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    async def _wait_out_outage(self, in_flight: set[asyncio.Task[None]]) -> None:
        """Return once the consumer may receive. While a dependency is down (the breaker is open),
        nothing is received: more messages would only fail too and burn their receive count. The
        database is probed with `SELECT 1` after each pause; once it answers, messages come one at
        a time until one is handled, which also covers services the probe cannot see."""
        breaker = self._breaker
        while True:
            if breaker.state == "open":
                self._log.warning(
                    "queue consumer: a dependency is unavailable; receiving paused",
                    pause_seconds=breaker.pause,
                    consecutive_failures=breaker.failures,
                )
            while breaker.state == "open":
                await asyncio.sleep(breaker.pause)
                try:
                    await self._database.ping(_PROBE_TIMEOUT_SECONDS)
                except Exception as exc:
                    breaker.probe_failed()
                    self._log.warning(
                        "queue consumer: the database is still unavailable; receiving stays paused",
                        error=f"{type(exc).__name__}: {exc}",
                        consecutive_failures=breaker.failures,
                    )
                else:
                    breaker.probe_passed()
                    self._log.info("queue consumer: the database answers; trying one message")
            if breaker.state == "trial" and in_flight:
                # Whatever is in hand (the trial message) decides: receive again, or pause again.
                await asyncio.wait(set(in_flight))
                continue
            return

    # -- one message ---------------------------------------------------------------------------
    async def _process(self, conn: _Connection, message: dict[str, Any]) -> None:
        receipt: str = message["ReceiptHandle"]
        try:
            try:
                envelope = decode_envelope(message.get("Body", ""))
            except MalformedEvent as exc:
                await self._dead_letter(conn, message, str(exc))
                return
            handler = self._handlers.get(envelope.type)
            if handler is None:
                # A queue may carry types this service does not handle, or does not even know yet (a
                # new type or version deployed first by its publisher): acknowledged, not dead-lettered.
                conn.leases.release(receipt)
                conn.deletes.add(receipt, message.get("MessageId"))
                self._log.info(
                    "queue consumer: no handler for this event type; acknowledged",
                    event_id=str(envelope.id),
                    event_type=envelope.type,
                    version=envelope.version,
                )
                return
            # Strict only now: an event this consumer handles must be one it understands.
            try:
                data = decode_data(envelope)
            except MalformedEvent as exc:
                await self._dead_letter(conn, message, str(exc))
                return
            await self._handle(conn, message, handler, envelope, data)
        except asyncio.CancelledError:
            conn.leases.release(receipt)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.sqs.change_message_visibility(
                        QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                    )
            raise
        except Exception:
            # The message stays in flight and comes back after its visibility timeout.
            self._log.exception("queue consumer: message processing failed", message_id=message.get("MessageId"))
        finally:
            conn.leases.release(receipt)

    async def _handle(
        self, conn: _Connection, message: dict[str, Any], handler: Handler, envelope: Envelope, data: EventData
    ) -> None:
        receipt: str = message["ReceiptHandle"]
        event_log = self._log.bind(event_id=str(envelope.id), event_type=envelope.type)
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
            try:
                applied = await self._apply(handler, envelope, data)
            except Exception as exc:
                # No more lease extensions: the retry delay below decides when the message returns.
                conn.leases.release(receipt)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                if is_outage(exc):
                    await self._hand_back(conn, receipt, event_log, exc)
                    return
                self._breaker.handled()  # the handler's own failure: its dependencies answered
                receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                delay = retry_delay(receive_count, self._retry_base)
                event_log.exception(
                    "queue consumer: handler failed; the message will be redelivered",
                    receive_count=receive_count,
                    retry_in_seconds=delay,
                )
                await conn.sqs.change_message_visibility(
                    QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay
                )
                return
            # Committed: from here on the message only needs deleting (batched, see BatchDeleter).
            self._breaker.handled()
            conn.leases.release(receipt)
            conn.deletes.add(receipt, message.get("MessageId"))
            span.set_attribute("commerce.duplicate", not applied)
            if applied:
                event_log.info("queue consumer: event applied")
            else:
                event_log.info("queue consumer: duplicate event skipped")

    async def _apply(self, handler: Handler, envelope: Envelope, data: EventData) -> bool:
        """`apply_event` within the handler deadline; running past it raises `HandlerTimedOut`."""
        try:
            async with asyncio.timeout(self._handler_timeout) as deadline:
                return await apply_event(self._database, self._consumer, handler, envelope, data)
        except TimeoutError:
            if deadline.expired():
                # Not `from`: a TimeoutError cause would read as an outage (see `is_outage`).
                raise HandlerTimedOut(f"the handler ran longer than {self._handler_timeout:g} s")  # noqa: B904
            raise

    async def _hand_back(self, conn: _Connection, receipt: str, event_log: Any, exc: Exception) -> None:
        """An outage, not this message's fault: it goes back to the queue after the breaker's pause,
        and the receive loop pauses too (see `_wait_out_outage`) instead of pulling more into failure."""
        delay = math.ceil(self._breaker.trip())
        # One line, no traceback: an outage fails every message in hand the same way.
        event_log.warning(
            "queue consumer: a dependency is unavailable; message handed back",
            error=f"{type(exc).__name__}: {exc}",
            retry_in_seconds=delay,
        )
        await conn.sqs.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay
        )

    async def _dead_letter(self, conn: _Connection, message: dict[str, Any], reason: str) -> None:
        bad_log = self._log.bind(message_id=message.get("MessageId"), reason=reason)
        conn.leases.release(message["ReceiptHandle"])
        if self._dead_letter_url is None:
            # Cycle it through its receives quickly so the redrive policy (if any) takes it away.
            bad_log.error("queue consumer: malformed message; no dead-letter queue known, left for redrive")
            receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            await conn.sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=retry_delay(receive_count, self._retry_base),
            )
            return
        attributes = {
            name: {key: value for key, value in attribute.items() if key in ("DataType", "StringValue", "BinaryValue")}
            for name, attribute in message.get("MessageAttributes", {}).items()
        }
        if len(attributes) < _SQS_MAX_ATTRIBUTES:
            attributes["dead_letter_reason"] = {"DataType": "String", "StringValue": reason[:1024]}
        await conn.sqs.send_message(
            QueueUrl=self._dead_letter_url, MessageBody=message.get("Body") or "(empty)", MessageAttributes=attributes
        )
        conn.deletes.add(message["ReceiptHandle"], message.get("MessageId"))
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


@dataclass(slots=True)
class _Connection:
    """One SQS client with the batching helpers that share it."""

    sqs: Any
    deletes: BatchDeleter
    leases: LeaseKeeper


@dataclass(slots=True)
class _PendingDelete:
    receipt: str
    message_id: str | None
    attempts: int = 0


@dataclass(slots=True)
class BatchDeleter:
    """Deletes acknowledged messages of one queue with `DeleteMessageBatch`, from one background task.

    `add` never waits. A batch goes out as soon as ten receipts are pending, or `max_delay` after
    the first of them; `close` sends whatever is pending (at shutdown). Only receipts of messages
    whose handling is over (committed, skipped as duplicates, dead-lettered) are ever added, so a
    late or lost delete costs a redelivery that the inbox skips, never a lost event. An entry that
    fails for the request's own sake (`SenderFault`, e.g. a receipt handle that expired) is logged
    and left to redelivery; other failures are tried again, `_DELETE_ATTEMPTS` times in all.
    """

    sqs: Any
    queue_url: str
    max_delay: float
    log: Any
    _pending: dict[str, _PendingDelete] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _full: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: bool = False
    _runner: asyncio.Task[None] | None = None

    def add(self, receipt: str, message_id: str | None = None) -> None:
        # Keyed by receipt: SQS rejects a whole batch that names one receipt twice.
        self._pending.setdefault(receipt, _PendingDelete(receipt, message_id))
        self._wake.set()
        if len(self._pending) >= _SQS_BATCH_ENTRIES:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=f"sqs-deletes-{self.queue_url.rsplit('/', 1)[-1]}")

    async def _run(self) -> None:
        """Send batches until closed and empty (or cancelled)."""
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._pending) < _SQS_BATCH_ENTRIES and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.max_delay):
                        await self._full.wait()
            await self._send(self._take())

    async def close(self, timeout: float) -> None:
        """Send everything pending, giving up after `timeout` (the rest is redelivered and skipped)."""
        self._closing = True
        self._wake.set()
        self._full.set()
        runner = self._runner
        if runner is None or runner.done():
            if self._pending:
                # The runner never started or already ended: send from here.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        while self._pending:
                            await self._send(self._take())
            self._dropped()
            return
        try:
            await asyncio.wait_for(asyncio.shield(runner), timeout)
        except TimeoutError:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        except Exception:
            self.log.warning("queue consumer: flushing deletes at shutdown failed", exc_info=True)
        self._dropped()

    def _dropped(self) -> None:
        if self._pending:
            self.log.warning(
                "queue consumer: deletes not sent before shutdown; those messages will be redelivered and skipped",
                count=len(self._pending),
            )
            self._pending.clear()

    def _take(self) -> list[_PendingDelete]:
        batch = []
        for receipt in list(self._pending)[:_SQS_BATCH_ENTRIES]:
            batch.append(self._pending.pop(receipt))
        return batch

    async def _send(self, batch: Sequence[_PendingDelete]) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": item.receipt} for index, item in enumerate(batch)]
        try:
            response = await self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:
            self._retry(batch, f"{type(exc).__name__}: {exc}")
            return
        for failure in response.get("Failed", []):
            item = batch[int(failure["Id"])]
            error = f"{failure.get('Code')}: {failure.get('Message')}"
            if failure.get("SenderFault", False):
                # Trying again cannot help; the message comes back after its visibility timeout.
                self.log.warning(
                    "queue consumer: delete after commit refused; left to redelivery (the inbox skips it)",
                    message_id=item.message_id,
                    error=error,
                )
            else:
                self._retry([item], error)

    def _retry(self, items: Sequence[_PendingDelete], error: str) -> None:
        for item in items:
            item.attempts += 1
            if item.attempts < _DELETE_ATTEMPTS and item.receipt not in self._pending:
                self._pending[item.receipt] = item
            else:
                self.log.warning(
                    "queue consumer: delete after commit failed; left to redelivery (the inbox skips it)",
                    message_id=item.message_id,
                    attempts=item.attempts,
                    error=error,
                )
        if self._pending:
            self._wake.set()


@dataclass(slots=True)
class LeaseKeeper:
    """Keeps the messages in hand invisible while their handlers run, with one task for all of them.

    Each message is due for an extension half a visibility timeout (at least 1 s) after it was
    received, and again after each extension; due ones are extended together with
    `ChangeMessageVisibilityBatch`. Fast handlers release their message before it is ever due,
    so they cost no call at all.
    """

    sqs: Any
    queue_url: str
    visibility_timeout: int
    log: Any
    # Receipt handle -> monotonic time at which its lease needs extending.
    _due: dict[str, float] = field(default_factory=dict)

    @property
    def interval(self) -> float:
        return max(1.0, self.visibility_timeout / 2)

    def hold(self, receipt: str, received_at: float) -> None:
        self._due[receipt] = received_at + self.interval

    def release(self, receipt: str) -> None:
        self._due.pop(receipt, None)

    async def run(self) -> None:
        # Checked often enough that an extension lands well before the lease runs out.
        tick = min(1.0, self.interval / 4)
        while True:
            await asyncio.sleep(tick)
            if self._due:
                await self.extend_due()

    async def extend_due(self) -> None:
        now = time.monotonic()
        due = [receipt for receipt, at in self._due.items() if at <= now]
        for start in range(0, len(due), _SQS_BATCH_ENTRIES):
            chunk = due[start : start + _SQS_BATCH_ENTRIES]
            try:
                response = await self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": self.visibility_timeout}
                        for index, receipt in enumerate(chunk)
                    ],
                )
            except Exception:
                # Still due: tried again at the next tick.
                self.log.warning("queue consumer: could not extend visibility", count=len(chunk), exc_info=True)
                continue
            failed = {int(failure["Id"]): failure for failure in response.get("Failed", [])}
            extended_at = time.monotonic()
            for index, receipt in enumerate(chunk):
                if receipt not in self._due:
                    continue  # finished meanwhile; a failure for it does not matter
                if index in failed:
                    failure = failed[index]
                    self.log.warning(
                        "queue consumer: could not extend visibility",
                        error=f"{failure.get('Code')}: {failure.get('Message')}",
                    )
                else:
                    self._due[receipt] = extended_at + self.interval
            extended = len(chunk) - len(failed)
            if extended:
                self.log.info("queue consumer: handlers still running; visibility extended", count=extended)


def retry_delay(receive_count: int, base_seconds: float) -> int:
    """Seconds until a message whose handler failed on its `receive_count`th receive comes back:
    quick retries for blips, slower ones for lasting failures, at most `MAX_RETRY_DELAY_SECONDS`."""
    return max(0, int(backoff_seconds(receive_count, first=base_seconds, cap=MAX_RETRY_DELAY_SECONDS)))


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
            **{"handler_timeout_seconds": settings.event_handler_timeout_seconds, **options},
        ).run()

    consume.__name__ = consume.__qualname__ = f"consume_{queue.replace('-', '_')}"
    return consume
