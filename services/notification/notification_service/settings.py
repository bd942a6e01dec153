"""Settings of the notification service: how mail leaves (SES or SMTP) and how hard delivery tries."""

from __future__ import annotations

from typing import Literal

from commerce_platform.settings import PlatformSettings


class NotificationSettings(PlatformSettings, kw_only=True, frozen=True):
    # "ses" in AWS; "smtp" locally, where the stack runs an SMTP sink.
    email_transport: Literal["smtp", "ses"] = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "shop@example.com"
    shop_name: str = "Commerce"
    max_delivery_attempts: int = 5
    retry_base_seconds: float = 2.0
