"""The whole AWS stack for every service in the routing table, wired from the modules beside it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from commerce_infra.app_secrets import build_app_secrets
from commerce_infra.cluster import build_cluster
from commerce_infra.config import StackConfig, load_config
from commerce_infra.database import build_database
from commerce_infra.endpoints import build_interface_endpoints
from commerce_infra.fargate_service import FargateService, FargateServiceArgs
from commerce_infra.iam import ServiceRoles, build_service_roles
from commerce_infra.load_balancer import build_load_balancer
from commerce_infra.messaging import build_messaging
from commerce_infra.migrations import build_jobs, migration_log_group
from commerce_infra.network import build_network
from commerce_infra.observability import build_observability
from commerce_infra.policy_documents import dead_letter_name
from commerce_infra.registry import build_repositories
from commerce_infra.security_groups import build_security_groups
from commerce_infra.sender_identity import build_email_identity
from commerce_infra.task_environment import task_environment, task_secrets
from commerce_platform.routing import SERVICES


def build(cfg: StackConfig | None = None) -> dict[str, FargateService]:
    """Declare every resource; returns the services (empty until CI has pushed an image tag)."""
    cfg = cfg or load_config()
    n = cfg.naming
    account_id = aws.get_caller_identity_output().account_id

    network = build_network(cfg)
    groups = build_security_groups(n, network.vpc.id)
    build_interface_endpoints(cfg, network, groups)
    repositories = build_repositories(cfg)
    messaging = build_messaging(n)
    database = build_database(cfg, network, groups, account_id)
    app_secrets = build_app_secrets(cfg)
    sender = build_email_identity(cfg)
    lb = build_load_balancer(cfg, network, groups)
    cluster = build_cluster(cfg)

    roles: dict[str, ServiceRoles] = {}
    environments: dict[str, dict[str, pulumi.Input[str]]] = {}
    secrets: dict[str, dict[str, pulumi.Input[str]]] = {}
    for route in SERVICES:
        secrets[route.name] = task_secrets(
            route,
            database.database_urls[route.name].arn,
            {var: s.arn for var, s in app_secrets[route.name].items()},
        )
        environments[route.name] = task_environment(cfg, route, account_id)
        roles[route.name] = build_service_roles(
            cfg,
            route,
            account_id=account_id,
            repository_arn=repositories[route.name].arn,
            log_group_names=[n.log_group(route.name), migration_log_group(cfg, route)],
            topic_arns={name: t.arn for name, t in messaging.topics.items()},
            queue_arns={name: q.arn for name, q in messaging.queues.items()}
            | {dead_letter_name(name): dlq.arn for name, dlq in messaging.dead_letter_queues.items()},
            secret_arns=list(secrets[route.name].values()),
            ses_identity_arn=sender.arn if sender is not None and route.sends_email else None,
        )

    jobs = build_jobs(
        cfg,
        account_id=account_id,
        repositories=repositories,
        roles=roles,
        database=database,
        environments=environments,
    )

    services: dict[str, FargateService] = {}
    if cfg.image_tag:
        for route in SERVICES:
            tg = lb.target_groups[route.name]
            services[route.name] = FargateService(
                n.name(route.name),
                FargateServiceArgs(
                    route=route,
                    sizing=cfg.sizing(route),
                    family=n.name(route.name),
                    image=pulumi.Output.concat(repositories[route.name].repository_url, ":", cfg.image_tag),
                    cluster_arn=cluster.cluster.arn,
                    cluster_name=cluster.cluster.name,
                    namespace_arn=cluster.namespace.arn,
                    subnet_ids=network.private_subnet_ids,
                    security_group_id=groups.services[route.name].id,
                    target_group_arn=tg.arn,
                    request_count_label=pulumi.Output.concat(lb.alb.arn_suffix, "/", tg.arn_suffix),
                    execution_role_arn=roles[route.name].execution.arn,
                    task_role_arn=roles[route.name].task.arn,
                    environment=environments[route.name],
                    secrets=secrets[route.name],
                    log_group_name=n.log_group(route.name),
                    log_retention_days=cfg.log_retention_days,
                    region=cfg.region,
                    use_spot=cfg.fargate_spot,
                    depends_on=[*lb.rules[route.name], cluster.capacity],
                ),
            )

    observability = build_observability(
        cfg, lb=lb, messaging=messaging, database=database, cluster_name=cluster.cluster.name
    )

    # CI reads these (commerce_infra.release) to push images and run the one-off tasks.
    pulumi.export("albDnsName", lb.alb.dns_name)
    pulumi.export("clusterName", cluster.cluster.name)
    pulumi.export("repositoryUrls", {name: r.repository_url for name, r in repositories.items()})
    pulumi.export("imageTag", cfg.image_tag)
    pulumi.export("migrationImageTag", cfg.migration_image_tag)
    pulumi.export("jobSubnetIds", network.private_subnet_ids)
    pulumi.export("jobSecurityGroupId", groups.jobs.id)
    pulumi.export("bootstrapTaskFamily", jobs.bootstrap_family if jobs else "")
    pulumi.export("migrationTaskFamilies", jobs.migration_families if jobs else {})
    pulumi.export("dbProxyEndpoint", database.proxy.endpoint)
    pulumi.export("dashboardUrl", observability.dashboard_url)
    pulumi.export("alarmTopicArn", observability.alarm_topic.arn)
    pulumi.export("services", list(services))
    return services
