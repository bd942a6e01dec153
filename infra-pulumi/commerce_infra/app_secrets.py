"""Secrets Manager entries for values only an operator has (JWT signing key, Stripe key).

Pulumi creates the empty secret and grants access; the value is put once with the AWS CLI
(docs/deploy.md), so it never passes through Pulumi state or CI logs.
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_platform.routing import SERVICES, ServiceRoute


def build_app_secrets(
    cfg: StackConfig, routes: Iterable[ServiceRoute] = SERVICES
) -> dict[str, dict[str, aws.secretsmanager.Secret]]:
    """service -> env var name -> secret, from `commerce:serviceSecrets` in the stack config."""
    out: dict[str, dict[str, aws.secretsmanager.Secret]] = {}
    for route in routes:
        out[route.name] = {
            var: aws.secretsmanager.Secret(
                cfg.naming.name("secret", route.name, var.lower().replace("_", "-")),
                name=cfg.naming.secret(route.name, var),
                description=f"{var} for the {route.name} service; value set by an operator",
                recovery_window_in_days=7 if cfg.protect_data else 0,
            )
            for var in cfg.secrets_for(route)
        }
    return out
