"""The SES sender identity, only when some service in the routing table sends email."""

from __future__ import annotations

from collections.abc import Iterable

import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_platform.routing import SERVICES, ServiceRoute


def build_email_identity(cfg: StackConfig, routes: Iterable[ServiceRoute] = SERVICES) -> aws.sesv2.EmailIdentity | None:
    senders = [r.name for r in routes if r.sends_email]
    if not senders:
        return None
    if not cfg.ses_from_address:
        raise ValueError(f"{', '.join(senders)} send email: set commerce:sesFromAddress")
    # SES mails a verification link to this address; until it is clicked sending fails (docs/deploy.md).
    return aws.sesv2.EmailIdentity(cfg.naming.name("sender"), email_identity=cfg.ses_from_address)
