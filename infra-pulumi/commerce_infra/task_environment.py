"""The runtime contract of a service task in AWS: environment variables and Secrets Manager secrets."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from commerce_infra.config import StackConfig
from commerce_infra.service_env import otel_service_name, peer_service_urls
from commerce_platform.routing import SERVICES, TOKEN_ISSUER, ServiceRoute

# The ADOT sidecar in the same task (awsvpc: containers share localhost).
SIDECAR_OTLP_ENDPOINT = "http://localhost:4318"


def task_environment(
    cfg: StackConfig, route: ServiceRoute, account_id: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    n = cfg.naming
    env: dict[str, pulumi.Input[str]] = {
        "PORT": str(route.port),
        # A one-off task migrates before the rollout (docs/deploy.md); tasks never race to migrate.
        "RUN_MIGRATIONS_ON_START": "false",
        "RUN_MODE": "all",
        "ENVIRONMENT": cfg.stack,
        "LOG_LEVEL": cfg.log_level,
        "AWS_REGION": cfg.region,
        "SNS_TOPIC_ARN_PREFIX": pulumi.Output.concat(f"arn:aws:sns:{cfg.region}:", account_id, f":{n.prefix}-"),
        "SQS_QUEUE_URL_PREFIX": pulumi.Output.concat(
            f"https://sqs.{cfg.region}.amazonaws.com/", account_id, f"/{n.prefix}-"
        ),
        "JWT_ISSUER": cfg.jwt_issuer,
        "JWT_AUDIENCE": cfg.jwt_audience,
        "OTEL_EXPORTER_OTLP_ENDPOINT": SIDECAR_OTLP_ENDPOINT,
        "OTEL_SERVICE_NAME": otel_service_name(route),
        # Service Connect aliases: the same http://<name>:<port> URLs as in compose.
        **peer_service_urls(route, SERVICES),
    }
    if route.name == TOKEN_ISSUER and cfg.jwt_previous_public_keys:
        env["JWT_PREVIOUS_PUBLIC_KEYS"] = cfg.jwt_previous_public_keys
    if route.sends_email:
        # In AWS mail goes through SES with the task role; MAIL_FROM is the verified identity.
        env |= {"EMAIL_TRANSPORT": "ses", "MAIL_FROM": cfg.ses_from_address, "SES_FROM_ADDRESS": cfg.ses_from_address}
    return env


def task_secrets(
    route: ServiceRoute,
    database_url_arn: pulumi.Input[str],
    app_secret_arns: Mapping[str, pulumi.Input[str]],
) -> dict[str, pulumi.Input[str]]:
    """Env var name -> secret ARN; ECS resolves them at task start with the execution role."""
    return {"DATABASE_URL": database_url_arn, **app_secret_arns}
