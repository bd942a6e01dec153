"""The delivery worker: sends pending notifications, retries failures with exponential backoff, and
gives up as `failed` after the configured number of attempts. Rows are leased by pushing their
next attempt time forward, so replicas never send the same message twice at once."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import structlog
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce_platform.aws import AwsClients
from notification_service.channels.email import EmailSender, SesEmailSender, SmtpEmailSender
from notification_service.channels.sms import SnsSmsSender
from notification_service.settings import NotificationSettings

log = structlog.get_logger("notification.delivery")
BATCH = 10
LEASE_SECONDS = 60
IDLE_SLEEP_SECONDS = 0.25

_CLAIM = text(
    """
    UPDATE notification SET next_attempt_at = now() + make_interval(secs => :lease)
    WHERE id IN (
        SELECT id FROM notification
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, channel, recipient, subject, body_text, body_html, attempts
    """
)
_SENT = text(
    "UPDATE notification SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL, "
    "provider_message_id = :provider_id, updated_at = now() WHERE id = :id"
)
_FAILED_ATTEMPT = text(
    "UPDATE notification SET attempts = attempts + 1, last_error = :error, updated_at = now(), "
    "status = CASE WHEN attempts + 1 >= :max_attempts THEN 'failed' ELSE 'pending' END, "
    "next_attempt_at = now() + make_interval(secs => :delay) WHERE id = :id"
)


def email_sender(settings: NotificationSettings, aws: AwsClients) -> EmailSender:
    if settings.email_transport == "ses":
        return SesEmailSender(aws, sender=settings.mail_from)
    return SmtpEmailSender(
        host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
        username=settings.smtp_username, password=settings.smtp_password, starttls=settings.smtp_starttls,
    )


class Deliverer:
    def __init__(
        self, engine: AsyncEngine, settings: NotificationSettings, email: EmailSender, sms: SnsSmsSender
    ) -> None:
        self.engine, self.settings, self.email, self.sms = engine, settings, email, sms

    async def deliver_due(self) -> int:
        """Send every due notification once; returns how many were attempted."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(_CLAIM, {"lease": LEASE_SECONDS, "batch": BATCH})).mappings().all()
        await asyncio.gather(*(self._attempt(dict(row)) for row in rows))
        return len(rows)

    async def _attempt(self, row: dict[str, Any]) -> None:
        try:
            if row["channel"] == "email":
                provider_id = await self.email.send(
                    to=row["recipient"], subject=row["subject"], text=row["body_text"], html=row["body_html"]
                )
            else:
                provider_id = await self.sms.send(to=row["recipient"], text=row["body_text"])
        except Exception as exc:
            delay = self.settings.retry_base_seconds * (2 ** row["attempts"])
            log.warning("delivery failed", notification_id=str(row["id"]), attempt=row["attempts"] + 1,
                        error=repr(exc)[:300])
            async with self.engine.begin() as conn:
                await conn.execute(_FAILED_ATTEMPT, {
                    "id": row["id"], "error": repr(exc)[:1000], "delay": delay,
                    "max_attempts": self.settings.max_delivery_attempts,
                })
            return
        async with self.engine.begin() as conn:
            await conn.execute(_SENT, {"id": row["id"], "provider_id": provider_id})
        log.info("notification sent", notification_id=str(row["id"]), channel=row["channel"],
                 at=datetime.datetime.now(datetime.UTC).isoformat())


async def delivery_worker(app: Litestar) -> None:
    """Background worker: deliver due notifications, sleeping briefly when there are none."""
    settings: NotificationSettings = app.state["settings"]
    aws: AwsClients = app.state["aws"]
    email = email_sender(settings, aws)
    deliverer = Deliverer(app.state["database"].engine, settings, email, SnsSmsSender(aws))
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
