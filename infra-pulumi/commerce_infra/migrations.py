"""One-off task definitions run before a rollout: the database bootstrap (roles and schemas, via
commerce_platform.db_provisioning) and each service's migrations (`commerce_platform.migrate`).

CI runs them with commerce_infra.release between pushing images and rolling out services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_infra.containers import TMP_VOLUME, command_container
from commerce_infra.database import DATABASE_NAME, Database
from commerce_infra.iam import ServiceRoles, execution_role, log_group_arn
from commerce_platform.routing import SERVICES, ServiceRoute

JOB_CPU = "256"
JOB_MEMORY = "512"
BOOTSTRAP_NAME = "db-bootstrap"

# Runs inside a service image (every image carries commerce_platform and the routing table of
# the same commit), so roles and schemas are created by the same code the local stack uses.
BOOTSTRAP_SCRIPT = """\
import asyncio, os
from commerce_platform.db_provisioning import provision
from commerce_platform.routing import SERVICES
env = os.environ
admin = "postgresql://{}:{}@{}:5432/{}?sslmode=require".format(
    env["DB_ADMIN_USER"], env["DB_ADMIN_PASSWORD"], env["DB_HOST"], env["DB_NAME"])
passwords = {r.name: env["DB_PASSWORD_" + r.name.upper()] for r in SERVICES}
asyncio.run(provision(admin, SERVICES, passwords))
print("provisioned roles and schemas for", ", ".join(sorted(passwords)))
"""


@dataclass(frozen=True)
class Jobs:
    bootstrap_family: str
    migration_families: dict[str, str]


def migration_log_group(cfg: StackConfig, route: ServiceRoute) -> str:
    return cfg.naming.log_group(f"{route.name}-migrate")


def migration_command(route: ServiceRoute) -> list[str]:
    return ["python", "-m", "commerce_platform.migrate", route.name]


def _job_task(
    cfg: StackConfig, name: str, family: str, container: dict[str, object], execution_role_arn: pulumi.Input[str]
) -> aws.ecs.TaskDefinition:
    return aws.ecs.TaskDefinition(
        cfg.naming.name("job", name),
        family=family,
        cpu=JOB_CPU,
        memory=JOB_MEMORY,
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
            operating_system_family="LINUX", cpu_architecture="X86_64"
        ),
        execution_role_arn=execution_role_arn,
        # No task role: these commands only talk to Postgres.
        volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
        container_definitions=pulumi.Output.json_dumps([container]),
    )


def build_jobs(
    cfg: StackConfig,
    *,
    account_id: pulumi.Input[str],
    repositories: Mapping[str, aws.ecr.Repository],
    roles: Mapping[str, ServiceRoles],
    database: Database,
    environments: Mapping[str, Mapping[str, pulumi.Input[str]]],
) -> Jobs | None:
    """Task definitions for migration image tag `migrationImageTag`; none before CI pushed one."""
    tag = cfg.migration_image_tag
    if not tag:
        return None
    n = cfg.naming
    families: dict[str, str] = {}
    for route in SERVICES:
        group = aws.cloudwatch.LogGroup(
            n.name("logs", route.name, "migrate"),
            name=migration_log_group(cfg, route),
            retention_in_days=cfg.log_retention_days,
        )
        family = n.name(route.name, "migrate")
        container = command_container(
            "migrate",
            image=pulumi.Output.concat(repositories[route.name].repository_url, ":", tag),
            command=migration_command(route),
            environment=environments[route.name],
            secrets={"DATABASE_URL": database.database_urls[route.name].arn},
            log_group=group.name,
            region=cfg.region,
        )
        _job_task(cfg, f"{route.name}-migrate", family, container, roles[route.name].execution.arn)
        families[route.name] = family

    # Any service image will do for the bootstrap; the first one in the table always exists.
    carrier = SERVICES[0]
    bootstrap_log = n.log_group(BOOTSTRAP_NAME)
    aws.cloudwatch.LogGroup(
        n.name("logs", BOOTSTRAP_NAME), name=bootstrap_log, retention_in_days=cfg.log_retention_days
    )
    secrets: dict[str, pulumi.Input[str]] = {
        "DB_ADMIN_USER": pulumi.Output.concat(database.admin_secret.arn, ":username::"),
        "DB_ADMIN_PASSWORD": pulumi.Output.concat(database.admin_secret.arn, ":password::"),
    }
    for route in SERVICES:
        secrets[f"DB_PASSWORD_{route.name.upper()}"] = pulumi.Output.concat(
            database.credentials[route.name].arn, ":password::"
        )
    bootstrap_role = execution_role(
        n.name("exec", BOOTSTRAP_NAME),
        account_id=account_id,
        description="ECS agent starting the database bootstrap task",
        repository_arns=[repositories[carrier.name].arn],
        log_group_arns=[log_group_arn(cfg.region, account_id, bootstrap_log)],
        secret_arns=[database.admin_secret.arn, *(s.arn for s in database.credentials.values())],
    )
    bootstrap_family = n.name(BOOTSTRAP_NAME)
    _job_task(
        cfg,
        BOOTSTRAP_NAME,
        bootstrap_family,
        command_container(
            BOOTSTRAP_NAME,
            image=pulumi.Output.concat(repositories[carrier.name].repository_url, ":", tag),
            command=["python", "-c", BOOTSTRAP_SCRIPT],
            environment={"DB_HOST": database.proxy.endpoint, "DB_NAME": DATABASE_NAME},
            secrets=secrets,
            log_group=bootstrap_log,
            region=cfg.region,
        ),
        bootstrap_role.arn,
    )
    return Jobs(bootstrap_family=bootstrap_family, migration_families=families)
