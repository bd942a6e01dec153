"""Settings from environment variables, typed with msgspec, with errors that name the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import msgspec

from commerce_platform.routing import service

RunMode = Literal["web", "worker", "all"]


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed."""


class PlatformSettings(msgspec.Struct, kw_only=True, frozen=True):
    """What every service reads. Field `foo_bar` comes from the environment variable `FOO_BAR`."""

    database_url: str
    port: int = 0
    # Local mode runs migrations at start; in AWS a one-off task runs them before the rollout.
    run_migrations_on_start: bool = True
    # web: HTTP only; worker: outbox relay and queue consumers only; all: both in one process.
    run_mode: RunMode = "all"
    db_pool_size: int = 10
    db_max_overflow: int = 5
    # asyncpg connections the background workers (queue consumers, sweepers) may hold at once, on top
    # of the pool's 10 for requests; the queue consumer's default concurrency is 10 too.
    db_worker_connections: int = 10
    # How long a request waits for a free asyncpg connection before it is a 503 `overloaded`: about
    # what a caller waits for the whole answer (HTTP_TIMEOUT_SECONDS), so no longer is worth it.
    db_acquire_timeout_seconds: float = 5.0
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    sns_topic_arn_prefix: str = "arn:aws:sns:us-east-1:123456789012:"
    sqs_queue_url_prefix: str | None = None
    jwt_issuer: str = "commerce-user-service"
    jwt_audience: str = "commerce"
    jwks_url: str | None = None
    jwks_cache_seconds: int = 300
    # How long an admin's confirmed standing (active, role) is reused: a demotion or deactivation
    # reaches other services' admin routes within this window (auth.confirmed_admin).
    admin_standing_cache_seconds: float = 5.0
    http_timeout_seconds: float = 5.0
    # A queue consumer's handler still running after this long fails like one that raised (retried,
    # then dead-lettered): a handler blocked on a lock or a dead connection must not hold its message.
    event_handler_timeout_seconds: float = 60.0
    http_retries: int = 2
    max_request_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Per-request access log lines; switch off only when a front proxy already logs every request.
    access_log: bool = True
    otel_exporter_otlp_endpoint: str | None = None
    # Append finished spans as JSON lines to this file (tests and local trace inspection).
    otel_traces_file: str | None = None
    environment: str = "local"

    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{service_url('user')}/.well-known/jwks.json"

    def topic_arn(self, topic: str) -> str:
        return f"{self.sns_topic_arn_prefix}{topic}"

    def queue_url(self, queue: str) -> str:
        if not self.sqs_queue_url_prefix:
            raise SettingsError("SQS_QUEUE_URL_PREFIX is required for services that consume a queue")
        return f"{self.sqs_queue_url_prefix}{queue}"


SettingsT = TypeVar("SettingsT", bound=msgspec.Struct)


def service_url(name: str, env: Mapping[str, str] | None = None) -> str:
    """Base URL of a service: `<NAME>_SERVICE_URL`, else its routing-table port on loopback."""
    env = os.environ if env is None else env
    route = service(name)
    return env.get(route.url_env_var, f"http://127.0.0.1:{route.port}").rstrip("/")


def load_settings(cls: type[SettingsT], env: Mapping[str, str] | None = None) -> SettingsT:
    """Build `cls` from environment variables named after its fields in upper case.

    Values arrive as strings; msgspec converts them (lax mode) to ints, bools and literals, and any
    failure is reported with the variable's name rather than the field's.
    """
    env = os.environ if env is None else env
    fields = msgspec.structs.fields(cls)
    raw: dict[str, Any] = {}
    for f in fields:
        var = f.name.upper()
        if var in env and env[var] != "":
            raw[f.name] = env[var]
    missing = [
        f.name.upper()
        for f in fields
        if f.name not in raw and f.required
    ]
    if missing:
        raise SettingsError(f"missing required environment variable(s): {', '.join(missing)}")
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid environment variable: {_name_the_variable(str(exc))}") from exc


def _name_the_variable(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; users set PORT, so say PORT.
    marker = "- at `$."
    if marker in message:
        text, _, path = message.partition(marker)
        return f"{path.rstrip('`').upper()}: {text.strip()}"
    return message
