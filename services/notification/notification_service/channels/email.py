"""Email senders: SES in AWS, SMTP anywhere else (locally the stack's SMTP sink)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib
import structlog

from commerce_platform.aws import AwsClients

log = structlog.get_logger("notification.email")
# Close a connection unused this long: well before the 60-300 s after which SMTP servers drop idle clients.
IDLE_TIMEOUT_SECONDS = 30.0
QUIT_TIMEOUT_SECONDS = 2.0


class EmailSender(Protocol):
    async def send(self, *, to: str, subject: str, text: str, html: str | None) -> str:
        """Send one message; return the provider's message id. Raise on failure."""
        ...


class SmtpEmailSender:
    """Sends over one SMTP connection, opened on the first send and kept for the next ones: connecting,
    EHLO, STARTTLS and login happen once per connection, not once per email. Concurrent sends take
    turns on it. A connection the server dropped while idle is reopened and the message sent again
    once; a message the server refused is raised at once (the delivery worker's backoff retries it).
    The connection is closed after `idle_timeout` seconds without a send, and by `close()`."""

    def __init__(
        self, *, host: str, port: int, sender: str, username: str | None = None, password: str | None = None,
        starttls: bool = False, idle_timeout: float = IDLE_TIMEOUT_SECONDS, timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls
        self.idle_timeout = idle_timeout
        # One client object for the sender's life: a reconnect reuses it (and its local host name).
        self._client = aiosmtplib.SMTP(
            hostname=host, port=port, username=username, password=password, start_tls=starttls, timeout=timeout,
        )
        self._lock = asyncio.Lock()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_close: asyncio.Task[None] | None = None

    async def send(self, *, to: str, subject: str, text: str, html: str | None) -> str:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message_id = make_msgid(domain=self.sender.rpartition("@")[2] or "localhost")
        message["Message-ID"] = message_id
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
        async with self._lock:
            self._disarm_idle_close()
            try:
                await self._send_with_one_reconnect(message)
            finally:
                self._arm_idle_close()
        return message_id

    async def close(self) -> None:
        """Quit and close the connection, if open (at shutdown). A later send connects again."""
        async with self._lock:
            self._disarm_idle_close()
            await self._quit()

    async def _send_with_one_reconnect(self, message: EmailMessage) -> None:
        reused = self._client.is_connected
        try:
            await self._transmit(message)
        except Exception as exc:
            # Only a kept connection can have gone stale; a fresh one failing is the server's trouble.
            if not (reused and _connection_dropped(exc)):
                raise
            # If the drop came after the server took DATA but before its reply reached us, this resend is
            # a duplicate: SMTP cannot tell the two cases apart, and it is rare enough to accept.
            log.info("smtp connection was dropped; reconnecting", host=self.host, port=self.port, error=repr(exc))
            await self._transmit(message)

    async def _transmit(self, message: EmailMessage) -> None:
        client = self._client
        try:
            if not client.is_connected:
                await client.connect()  # EHLO, STARTTLS and login as configured
            await client.send_message(message)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # The server answered (refused): aiosmtplib has reset the transaction with RSET, or closed
            # the connection itself on a 421. Either way the next send can go on from here.
            raise
        except BaseException:
            # A timeout, a lost connection or a cancellation mid-transaction: the session's state is
            # unknown, so the next send starts on a new connection.
            client.close()
            raise

    async def _quit(self) -> None:
        client = self._client
        if not client.is_connected:
            return
        try:
            await client.quit(timeout=QUIT_TIMEOUT_SECONDS)
        except Exception as exc:  # the server may already be gone; we close our side regardless
            log.debug("smtp quit failed", error=repr(exc))
        finally:
            client.close()

    def _arm_idle_close(self) -> None:
        if self._client.is_connected:
            self._idle_timer = asyncio.get_running_loop().call_later(self.idle_timeout, self._on_idle)

    def _disarm_idle_close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _on_idle(self) -> None:
        self._idle_timer = None
        self._idle_close = asyncio.get_running_loop().create_task(self._close_if_still_idle())

    async def _close_if_still_idle(self) -> None:
        async with self._lock:
            # A send that got the lock first has armed a new timer: the connection is in use again.
            if self._idle_timer is None:
                await self._quit()


def _connection_dropped(exc: BaseException) -> bool:
    """The server went away (restart, idle timeout): worth one more try on a new connection. A 421 is
    the server saying it is closing the connection, not an answer about this message."""
    if isinstance(exc, ConnectionError):  # SMTPServerDisconnected, ConnectionResetError, BrokenPipeError
        return True
    return isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 421


class SesEmailSender:
    def __init__(self, aws: AwsClients, *, sender: str) -> None:
        self.aws, self.sender = aws, sender

    async def send(self, *, to: str, subject: str, text: str, html: str | None) -> str:
        body = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        # No botocore retry: SendEmail is not idempotent, and the delivery worker's backoff retries.
        async with self.aws.client("ses", retry=False) as ses:
            result = await ses.send_email(
                Source=self.sender,
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
            )
        return str(result["MessageId"])
