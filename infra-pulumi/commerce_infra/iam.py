"""Per-service IAM roles: a task role with only what the routing table says the service does (no
secrets), and an execution role that can pull only its image, write only its logs and inject only
its secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_infra.policy_documents import (
    assume_role,
    dead_letter_name,
    document,
    execution_role_statements,
    task_role_statements,
)
from commerce_platform.routing import ServiceRoute

ECS_TASKS = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class ServiceRoles:
    task: aws.iam.Role
    execution: aws.iam.Role


def log_group_arn(region: str, account_id: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(f"arn:aws:logs:{region}:", account_id, f":log-group:{name}")


def _role(name: str, account_id: pulumi.Input[str], description: str) -> aws.iam.Role:
    return aws.iam.Role(
        name,
        description=description,
        assume_role_policy=pulumi.Output.from_input(account_id).apply(
            lambda acct: json.dumps(assume_role(ECS_TASKS, source_account=acct))
        ),
    )


def execution_role(
    name: str,
    *,
    account_id: pulumi.Input[str],
    description: str,
    repository_arns: Sequence[pulumi.Input[str]],
    log_group_arns: Sequence[pulumi.Input[str]],
    secret_arns: Sequence[pulumi.Input[str]],
) -> aws.iam.Role:
    role = _role(name, account_id, description)
    aws.iam.RolePolicy(
        name,
        role=role.id,
        policy=pulumi.Output.all(list(repository_arns), list(log_group_arns), list(secret_arns)).apply(
            lambda a: json.dumps(
                document(execution_role_statements(repository_arns=a[0], log_group_arns=a[1], secret_arns=a[2]))
            )
        ),
    )
    return role


def build_service_roles(
    cfg: StackConfig,
    route: ServiceRoute,
    *,
    account_id: pulumi.Input[str],
    repository_arn: pulumi.Input[str],
    log_group_names: Sequence[str],
    topic_arns: Mapping[str, pulumi.Output[str]],
    queue_arns: Mapping[str, pulumi.Output[str]],
    secret_arns: Sequence[pulumi.Input[str]],
    ses_identity_arn: pulumi.Input[str] | None,
) -> ServiceRoles:
    n = cfg.naming
    task = _role(n.name("task", route.name), account_id, f"{route.name} service at runtime")
    # Resolve only the ARNs this service uses, so its policy never mentions another's resources.
    own_topics = {t: topic_arns[t] for t in route.publishes}
    own_queues = {q: queue_arns[q] for q in route.consumes} | {
        dead_letter_name(q): queue_arns[dead_letter_name(q)] for q in route.consumes
    }
    aws.iam.RolePolicy(
        n.name("task", route.name),
        role=task.id,
        policy=pulumi.Output.all(own_topics, own_queues, ses_identity_arn).apply(
            lambda a: json.dumps(
                document(
                    task_role_statements(
                        route,
                        topic_arns=a[0],
                        queue_arns=a[1],
                        ses_identity_arn=a[2],
                        ses_from_address=cfg.ses_from_address or None,
                    )
                )
            )
        ),
    )
    execution = execution_role(
        n.name("exec", route.name),
        account_id=account_id,
        description=f"ECS agent starting {route.name} tasks",
        repository_arns=[repository_arn],
        log_group_arns=[log_group_arn(cfg.region, account_id, name) for name in log_group_names],
        secret_arns=secret_arns,
    )
    return ServiceRoles(task=task, execution=execution)
