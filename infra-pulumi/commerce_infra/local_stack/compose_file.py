"""compose.yaml as data: infrastructure containers plus one container per routing-table service."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from commerce_infra.local_stack import images
from commerce_infra.local_stack.constants import (
    AWS_ACCOUNT_ID,
    AWS_HOST,
    AWS_PORT,
    AWS_REGION,
    DATABASE_NAME,
    FROM_ADDRESS,
    GATEWAY_CONF,
    POSTGRES_INIT,
    local_db_password,
)
from commerce_infra.service_env import otel_service_name, peer_service_urls
from commerce_platform.routing import GATEWAY_PORT, SERVICES, ServiceRoute

Compose = dict[str, Any]

_AWS_ENDPOINT = f"http://{AWS_HOST}:{AWS_PORT}"
# The emulator accepts any credentials; boto still insists on having some.
_AWS_CLIENT_ENV = {
    "AWS_REGION": AWS_REGION,
    "AWS_DEFAULT_REGION": AWS_REGION,
    "AWS_ENDPOINT_URL": _AWS_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}
# Container paths, not host temp files: a tmpfs is the only writable place in a read-only container.
_CONTAINER_TMP = "/tmp"  # noqa: S108


def _hardened() -> Compose:
    """Fresh each time: shared lists would be written out as YAML anchors."""
    return {
        "read_only": True,
        "tmpfs": [_CONTAINER_TMP],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }


def _python_probe(url: str) -> list[str]:
    # Slim Python images have no curl or wget; the interpreter is always there.
    return ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"]


def _healthcheck(test: list[str], *, interval: str = "5s", retries: int = 30) -> Compose:
    return {"test": test, "interval": interval, "timeout": "3s", "retries": retries}


def service_environment(route: ServiceRoute) -> dict[str, str]:
    """The runtime contract (PORT, DATABASE_URL, AWS, OTel, peers) with compose's host names."""
    env = {
        "PORT": str(route.port),
        "DATABASE_URL": (
            f"postgresql+asyncpg://{route.db_role}:{local_db_password(route)}@postgres:5432/{DATABASE_NAME}"
        ),
        "RUN_MIGRATIONS_ON_START": "true",
        "RUN_MODE": "all",
        # "local" relaxes only what a laptop needs (e.g. the user service makes its own signing key).
        "ENVIRONMENT": "local",
        "LOG_LEVEL": "INFO",
        **_AWS_CLIENT_ENV,
        "SNS_TOPIC_ARN_PREFIX": f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT_ID}:",
        "SQS_QUEUE_URL_PREFIX": f"{_AWS_ENDPOINT}/{AWS_ACCOUNT_ID}/",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
        "OTEL_SERVICE_NAME": otel_service_name(route),
        **peer_service_urls(route),
    }
    if route.sends_email:
        # Locally mail goes to the Mailpit sink over SMTP so it can be read at :8025.
        env |= {
            "EMAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "mailpit",
            "SMTP_PORT": "1025",
            "MAIL_FROM": FROM_ADDRESS,
            "SES_FROM_ADDRESS": FROM_ADDRESS,
        }
    return env


def service_container(route: ServiceRoute) -> Compose:
    depends: Compose = {
        "postgres": {"condition": "service_healthy"},
        "aws-init": {"condition": "service_completed_successfully"},
        "otel-collector": {"condition": "service_started"},
    }
    if route.sends_email:
        depends["mailpit"] = {"condition": "service_started"}
    return {
        "build": {"context": ".", "dockerfile": "docker/Dockerfile", "args": {"SERVICE": route.name}},
        "image": f"commerce/{route.package}:local",
        "environment": service_environment(route),
        # Service-specific extras (Stripe endpoint, bootstrap admin) live beside the template, if any.
        "env_file": [{"path": f"docker/env/{route.name}.env", "required": False}],
        "ports": [f"127.0.0.1:{route.port}:{route.port}"],
        **_hardened(),
        # Local-only state (the user service's dev signing key under ./.local) must land somewhere
        # writable: in a read-only container that is the tmpfs.
        "working_dir": _CONTAINER_TMP,
        "depends_on": depends,
        "restart": "unless-stopped",
    }


def _infrastructure() -> dict[str, Compose]:
    emulator_build = {"context": "docker/emulators"}
    return {
        "postgres": {
            "image": images.POSTGRES,
            # As the local launcher does (devstack/postgres.py): eight services' pools at their peak
            # (asyncpg share for requests and for workers, plus the SQLAlchemy engine) exceed the default 100.
            "command": ["postgres", "-c", "max_connections=300"],
            "environment": {
                "POSTGRES_DB": DATABASE_NAME,
                "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD": "postgres",
            },
            "volumes": [
                f"./{POSTGRES_INIT.as_posix()}:/docker-entrypoint-initdb.d/10-service-schemas.sql:ro",
                "pgdata:/var/lib/postgresql/data",
            ],
            "ports": ["127.0.0.1:5432:5432"],
            "healthcheck": _healthcheck(["CMD-SHELL", f"pg_isready -U postgres -d {DATABASE_NAME}"]),
        },
        "aws": {
            "build": {**emulator_build, "args": {"PACKAGES": images.moto_package()}},
            "image": "commerce/aws-emulator:local",
            "command": ["moto_server", "-H", "0.0.0.0", "-p", str(AWS_PORT)],
            "ports": [f"127.0.0.1:{AWS_PORT}:{AWS_PORT}"],
            "healthcheck": _healthcheck(_python_probe(f"http://127.0.0.1:{AWS_PORT}/moto-api/")),
        },
        "aws-init": {
            # Same image as the emulator: it already has boto3.
            "build": {**emulator_build, "args": {"PACKAGES": images.moto_package()}},
            "image": "commerce/aws-emulator:local",
            "command": ["python", "/provision/provision.py", "/provision/topology.json"],
            "volumes": ["./docker/aws:/provision:ro"],
            "environment": dict(_AWS_CLIENT_ENV),
            "depends_on": {"aws": {"condition": "service_healthy"}},
            "restart": "no",
        },
        "stripe": {
            "build": {**emulator_build, "args": {"PACKAGES": images.LOCALSTRIPE_PACKAGE}},
            "image": "commerce/stripe-emulator:local",
            "command": ["localstripe", "--port", "8420"],
            "ports": ["127.0.0.1:8420:8420"],
        },
        "mailpit": {
            "image": images.MAILPIT,
            "ports": ["127.0.0.1:8025:8025"],
        },
        "jaeger": {
            "image": images.JAEGER,
            "environment": {"COLLECTOR_OTLP_ENABLED": "true"},
            "ports": ["127.0.0.1:16686:16686"],
        },
        "otel-collector": {
            "image": images.OTEL_COLLECTOR,
            "command": ["--config=/etc/otelcol/config.yaml"],
            "volumes": ["./docker/otel-collector.yaml:/etc/otelcol/config.yaml:ro"],
            "depends_on": {"jaeger": {"condition": "service_started"}},
        },
    }


def _gateway(routes: Iterable[ServiceRoute]) -> Compose:
    return {
        "image": images.NGINX,
        # Published on the host's loopback only, like every other port here: the stack has a known
        # admin password. nginx still listens on all of the container's interfaces, which Docker's
        # port forwarding needs; to reach it from another machine, publish it yourself.
        "ports": [f"127.0.0.1:{GATEWAY_PORT}:{GATEWAY_PORT}"],
        "volumes": [f"./{GATEWAY_CONF.as_posix()}:/etc/nginx/nginx.conf:ro"],
        "read_only": True,
        "tmpfs": [_CONTAINER_TMP, "/var/cache/nginx"],
        "depends_on": {r.name: {"condition": "service_healthy"} for r in routes},
        "healthcheck": _healthcheck(
            ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{GATEWAY_PORT}/_gateway/health"]
        ),
        "restart": "unless-stopped",
    }


def build_compose(routes: Iterable[ServiceRoute] = SERVICES) -> Compose:
    routes = tuple(routes)
    services: dict[str, Compose] = _infrastructure()
    clash = {r.name for r in routes} & services.keys()
    if clash:
        raise ValueError(f"routing-table service names clash with infrastructure containers: {sorted(clash)}")
    services |= {r.name: service_container(r) for r in routes}
    services["gateway"] = _gateway(routes)
    return {"name": "commerce", "services": services, "volumes": {"pgdata": {}}}
