"""Email senders: SES in AWS, SMTP anywhere else (locally the stack's SMTP sink)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib

from commerce_platform.aws import AwsClients


class EmailSender(Protocol):
    async def send(self, *, to: str, subject: str, text: str, html: str | None) -> str:
        """Send one message; return the provider's message id. Raise on failure."""
        ...


class SmtpEmailSender:
    def __init__(
        self, *, host: str, port: int, sender: str, username: str | None = None, password: str | None = None,
        starttls: bool = False,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls

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
        await aiosmtplib.send(
            message, hostname=self.host, port=self.port, username=self.username, password=self.password,
            start_tls=self.starttls, timeout=10,
        )
        return message_id


class SesEmailSender:
    def __init__(self, aws: AwsClients, *, sender: str) -> None:
        self.aws, self.sender = aws, sender

    async def send(self, *, to: str, subject: str, text: str, html: str | None) -> str:
        body = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        async with self.aws.client("ses") as ses:
            result = await ses.send_email(
                Source=self.sender,
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
            )
        return str(result["MessageId"])
