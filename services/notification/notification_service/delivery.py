"""The delivery worker: sends pending notifications, retries failures with exponential backoff, and
gives up as `failed` after the configured number of attempts. Rows are leased by pushing their
next attempt time forward, so replicas never send the same message twice at once."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from litestar import Litestar

from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from notification_service.channels.email import EmailSender, SesEmailSender, SmtpEmailSender
from notification_service.channels.sms import SnsSmsSender
from notification_service.settings import NotificationSettings

log = structlog.get_logger("notification.delivery")
BATCH = 10
LEASE_SECONDS = 60
IDLE_SLEEP_SECONDS = 0.25

# Each statement is atomic on its own, so none needs an explicit transaction (plain SQL on the
# asyncpg pool: this runs for every notification, and SQLAlchemy's layer cost more than the SQL).
_CLAIM = """
UPDATE notification SET next_attempt_at = now() + make_interval(secs => $1)
WHERE id IN (
    SELECT id FROM notification
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING id, channel, recipient, subject, body_text, body_html, attempts
"""
# One statement for all the sent ones of a batch, one for all the failed ones.
_SENT = """
UPDATE notification n SET status = 'sent', sent_at = now(), attempts = n.attempts + 1, last_error = NULL,
    provider_message_id = s.provider_id, updated_at = now()
FROM unnest($1::uuid[], $2::text[]) AS s(id, provider_id)
WHERE n.id = s.id
"""
_FAILED_ATTEMPT = """
UPDATE notification n SET attempts = n.attempts + 1, last_error = f.error, updated_at = now(),
    status = CASE WHEN n.attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => f.delay)
FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS f(id, error, delay)
WHERE n.id = f.id
"""


def email_sender(settings: NotificationSettings, aws: AwsClients) -> EmailSender:
    if settings.email_transport == "ses":
        return SesEmailSender(aws, sender=settings.mail_from)
    return SmtpEmailSender(
        host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
        username=settings.smtp_username, password=settings.smtp_password, starttls=settings.smtp_starttls,
    )


@dataclass(frozen=True, slots=True)
class _Outcome:
    id: UUID
    channel: str
    provider_id: str | None = None
    error: str | None = None
    retry_in_seconds: float = 0.0


class Deliverer:
    def __init__(
        self, database: Database, settings: NotificationSettings, email: EmailSender, sms: SnsSmsSender
    ) -> None:
        self.database, self.settings, self.email, self.sms = database, settings, email, sms

    async def deliver_due(self) -> int:
        """Send every due notification once; returns how many were attempted."""
        async with self.database.connection(worker=True) as conn:
            rows = await conn.fetch(_CLAIM, LEASE_SECONDS, BATCH)
        await self.deliver([dict(row) for row in rows])
        return len(rows)

    async def deliver(self, rows: list[dict[str, Any]]) -> None:
        """Attempt each claimed row, then record every outcome (sent, or failed with its backoff)."""
        if not rows:
            return
        outcomes = await asyncio.gather(*(self._attempt(row) for row in rows))
        sent = [o for o in outcomes if o.error is None]
        failed = [o for o in outcomes if o.error is not None]
        async with self.database.connection(worker=True) as conn:
            if sent:
                await conn.execute(_SENT, [o.id for o in sent], [o.provider_id for o in sent])
            if failed:
                await conn.execute(
                    _FAILED_ATTEMPT, [o.id for o in failed], [o.error for o in failed],
                    [o.retry_in_seconds for o in failed], self.settings.max_delivery_attempts,
                )
        for outcome in sent:
            log.info("notification sent", notification_id=str(outcome.id), channel=outcome.channel,
                     at=datetime.datetime.now(datetime.UTC).isoformat())

    async def _attempt(self, row: dict[str, Any]) -> _Outcome:
        try:
            if row["channel"] == "email":
                provider_id = await self.email.send(
                    to=row["recipient"], subject=row["subject"], text=row["body_text"], html=row["body_html"]
                )
            else:
                provider_id = await self.sms.send(to=row["recipient"], text=row["body_text"])
        except Exception as exc:
            log.warning("delivery failed", notification_id=str(row["id"]), channel=row["channel"],
                        attempt=row["attempts"] + 1, error=repr(exc)[:300])
            return _Outcome(row["id"], row["channel"], error=repr(exc)[:1000],
                            retry_in_seconds=self.settings.retry_base_seconds * (2 ** row["attempts"]))
        return _Outcome(row["id"], row["channel"], provider_id=provider_id)


async def delivery_worker(app: Litestar) -> None:
    """Background worker: deliver due notifications, sleeping briefly when there are none."""
    settings: NotificationSettings = app.state["settings"]
    aws: AwsClients = app.state["aws"]
    email = email_sender(settings, aws)
    deliverer = Deliverer(app.state["database"], settings, email, SnsSmsSender(aws))
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
