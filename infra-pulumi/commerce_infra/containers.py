"""ECS container definitions (as plain dicts of Pulumi inputs) for the app, its ADOT collector
sidecar, and the one-off migration and bootstrap commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

import pulumi

from commerce_platform.routing import ServiceRoute

ADOT_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
COLLECTOR_NAME = "otel-collector"
# The image's non-root user (docker/Dockerfile); stated again so ECS never runs it as root.
APP_USER = "10001:10001"
TMP_VOLUME = "tmp"
# Inside the container: the one writable path of its read-only root filesystem.
CONTAINER_TMP = "/tmp"  # noqa: S108

ContainerDef = dict[str, Any]


def adot_config() -> str:
    return files("commerce_infra").joinpath("adot_collector.yaml").read_text()


def _pairs(values: Mapping[str, pulumi.Input[str]], value_key: str) -> list[dict[str, Any]]:
    return [{"name": k, value_key: values[k]} for k in sorted(values)]


def _logs(log_group: pulumi.Input[str], region: str, stream_prefix: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": stream_prefix,
            # A slow CloudWatch must not block the app's stdout and stall requests.
            "mode": "non-blocking",
            "max-buffer-size": "4m",
        },
    }


def app_container(
    route: ServiceRoute,
    *,
    image: pulumi.Input[str],
    environment: Mapping[str, pulumi.Input[str]],
    secrets: Mapping[str, pulumi.Input[str]],
    log_group: pulumi.Input[str],
    region: str,
) -> ContainerDef:
    return {
        "name": route.name,
        "image": image,
        "essential": True,
        "user": APP_USER,
        # Named so Service Connect can publish it as http://<name>:<port>.
        "portMappings": [{"name": route.name, "containerPort": route.port, "protocol": "tcp", "appProtocol": "http"}],
        "environment": _pairs(environment, "value"),
        "secrets": _pairs(secrets, "valueFrom"),
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": CONTAINER_TMP, "readOnly": False}],
        "healthCheck": {
            "command": ["CMD", "python", "/app/healthcheck.py"],
            "interval": 15,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 30,
        },
        "dependsOn": [{"containerName": COLLECTOR_NAME, "condition": "START"}],
        "stopTimeout": 30,
        "linuxParameters": {"initProcessEnabled": True},
        "logConfiguration": _logs(log_group, region, "app"),
    }


def collector_container(*, log_group: pulumi.Input[str], region: str) -> ContainerDef:
    return {
        "name": COLLECTOR_NAME,
        "image": ADOT_IMAGE,
        # Not essential: losing traces must not take the service down with it.
        "essential": False,
        "environment": [
            {"name": "AOT_CONFIG_CONTENT", "value": adot_config()},
            {"name": "AWS_REGION", "value": region},
        ],
        "healthCheck": {"command": ["/healthcheck"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10},
        "memoryReservation": 64,
        "logConfiguration": _logs(log_group, region, "otel"),
    }


def command_container(
    name: str,
    *,
    image: pulumi.Input[str],
    command: Sequence[str],
    environment: Mapping[str, pulumi.Input[str]],
    secrets: Mapping[str, pulumi.Input[str]],
    log_group: pulumi.Input[str],
    region: str,
) -> ContainerDef:
    """A container that runs one command and exits (migrations, database bootstrap)."""
    return {
        "name": name,
        "image": image,
        "essential": True,
        "user": APP_USER,
        "command": list(command),
        "environment": _pairs(environment, "value"),
        "secrets": _pairs(secrets, "valueFrom"),
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": CONTAINER_TMP, "readOnly": False}],
        "logConfiguration": _logs(log_group, region, name),
    }
