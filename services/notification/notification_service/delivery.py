"""The delivery worker: sends pending notifications, retries failures with exponential backoff, and
gives up as `failed` after the configured number of attempts.

Rows are leased by pushing their next attempt time forward and stamped with the batch's claim
token, so replicas never send the same message twice at once: a batch ends (late attempts cut off)
well inside its lease, and its outcomes only land on rows still holding its token (outcomes.py).
A text recorded without a recipient (the user service was down when the event came) is resolved
here: sent if the customer still wants texts, deleted if not, retried if the user service is down.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import structlog
from litestar import Litestar

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from notification_service.channels.email import EmailSender, SesEmailSender, SmtpEmailSender
from notification_service.channels.sms import SnsSmsSender
from notification_service.contacts import ContactDirectory
from notification_service.outcomes import Dropped, Failed, Outcome, Sent, record_outcomes
from notification_service.settings import NotificationSettings

log = structlog.get_logger("notification.delivery")
BATCH = 10
LEASE_SECONDS = 60
# Half the lease: a batch's last outcome is written long before another replica may claim its rows.
BATCH_DEADLINE_SECONDS = 30.0
IDLE_SLEEP_SECONDS = 0.25

# What an attempt needs of a claimed row.
CLAIMED_COLUMNS = "id, user_id, channel, recipient, subject, body_text, body_html, attempts"
# Plain SQL on the asyncpg pool: this runs for every notification, and SQLAlchemy's layer cost more than the SQL.
_CLAIM = f"""
UPDATE notification SET next_attempt_at = now() + make_interval(secs => $1), claim_token = $3
WHERE id IN (
    SELECT id FROM notification
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING {CLAIMED_COLUMNS}
"""  # noqa: S608 - constant


def email_sender(settings: NotificationSettings, aws: AwsClients) -> EmailSender:
    if settings.email_transport == "ses":
        return SesEmailSender(aws, sender=settings.mail_from)
    return SmtpEmailSender(
        host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
        username=settings.smtp_username, password=settings.smtp_password, starttls=settings.smtp_starttls,
    )


class Deliverer:
    def __init__(
        self, database: Database, settings: NotificationSettings, email: EmailSender, sms: SnsSmsSender,
        contacts: ContactDirectory, *, deadline_seconds: float = BATCH_DEADLINE_SECONDS,
    ) -> None:
        self.database, self.settings, self.email, self.sms = database, settings, email, sms
        self.contacts, self.deadline_seconds = contacts, deadline_seconds

    async def deliver_due(self) -> int:
        """Send every due notification once; returns how many were attempted."""
        claim = uuid.uuid4()
        async with self.database.connection(worker=True) as conn:
            rows = await conn.fetch(_CLAIM, LEASE_SECONDS, BATCH, claim)
        await self.deliver(claim, [dict(row) for row in rows])
        return len(rows)

    async def deliver(self, claim: UUID, rows: list[dict[str, Any]]) -> None:
        """Attempt each row of the batch claimed with `claim` at once, then record every outcome (sent,
        failed with its backoff, or dropped). An attempt still running at the deadline counts as failed."""
        if not rows:
            return
        attempts = {asyncio.create_task(self._attempt(row)): row for row in rows}
        try:
            await asyncio.wait(attempts, timeout=self.deadline_seconds)
        except asyncio.CancelledError:
            # Shutdown mid-batch: record what already went out, or the next claim would send it again.
            # Unfinished attempts are abandoned; their rows come back when the lease runs out.
            for task in attempts:
                task.cancel()
            await self._record(claim, [task.result() for task in attempts if task.done() and not task.cancelled()])
            raise
        outcomes: list[Outcome] = []
        for task, row in attempts.items():
            if task.done():
                outcomes.append(task.result())
            else:
                task.cancel()
                outcomes.append(self._failed(row, f"cut off: no outcome within {self.deadline_seconds:g} s"))
        await self._record(claim, outcomes)

    async def _attempt(self, row: dict[str, Any]) -> Outcome:
        recipient: str | None = row["recipient"]
        try:
            if row["channel"] == "email":
                provider_id = await self.email.send(
                    to=row["recipient"], subject=row["subject"], text=row["body_text"], html=row["body_html"]
                )
            else:
                if recipient is None:
                    recipient = await self._text_recipient(row["user_id"])
                    if recipient is None:
                        return Dropped(row["id"], row["channel"])
                provider_id = await self.sms.send(to=recipient, text=row["body_text"])
        except Exception as exc:
            log.warning("delivery failed", notification_id=str(row["id"]), channel=row["channel"],
                        attempt=row["attempts"] + 1, error=repr(exc)[:300])
            return self._failed(row, repr(exc)[:1000], recipient)
        return Sent(row["id"], row["channel"], recipient, provider_id)

    async def _text_recipient(self, user_id: UUID) -> str | None:
        """The phone to text now, or None when the customer wants no texts (raises while the user
        service is down: a failed attempt, retried with the usual backoff)."""
        contact = await self.contacts.contact(user_id)
        return contact.phone if contact.texts_allowed else None

    def _failed(self, row: dict[str, Any], error: str, recipient: str | None = None) -> Failed:
        delay = self.settings.retry_base_seconds * (2 ** row["attempts"])
        return Failed(row["id"], row["channel"], error, delay, recipient)

    async def _record(self, claim: UUID, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        write = asyncio.create_task(self._write(claim, outcomes))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            # Cancelled while writing (shutdown): finish the write, then stop.
            await write
            raise

    async def _write(self, claim: UUID, outcomes: Sequence[Outcome]) -> None:
        async with self.database.connection(worker=True) as conn:
            written = await record_outcomes(conn, claim, outcomes, max_attempts=self.settings.max_delivery_attempts)
        for outcome in outcomes:
            where = {"notification_id": str(outcome.id), "channel": outcome.channel}
            if outcome.id not in written:
                log.warning("outcome discarded: the notification was claimed again meanwhile", **where,
                            outcome=type(outcome).__name__)
            elif isinstance(outcome, Sent):
                log.info("notification sent", **where, at=datetime.datetime.now(datetime.UTC).isoformat())
            elif isinstance(outcome, Dropped):
                log.info("text dropped: the customer no longer wants texts", **where)


async def delivery_worker(app: Litestar) -> None:
    """Background worker: deliver due notifications, sleeping briefly when there are none."""
    settings: NotificationSettings = app.state["settings"]
    aws: AwsClients = app.state["aws"]
    email = email_sender(settings, aws)
    contacts = ContactDirectory(app.state["service_clients"]["user"])
    deliverer = Deliverer(app.state["database"], settings, email, SnsSmsSender(aws), contacts)
    try:
        while True:
            try:
                if await deliverer.deliver_due() == 0:
                    await asyncio.sleep(IDLE_SLEEP_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery loop error")
                await asyncio.sleep(1.0)
    finally:
        # Cancelled at shutdown: say QUIT on the kept SMTP connection rather than just dropping it.
        if isinstance(email, SmtpEmailSender):
            await email.close()
