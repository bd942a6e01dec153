"""The public ALB: HTTPS listener (HTTP redirects to it), a target group per service with /health
checks, and path rules from the routing table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_infra.listener_rules import plan_rules
from commerce_infra.network import Network
from commerce_infra.security_groups import SecurityGroups
from commerce_platform.routing import SERVICES, ServiceRoute

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no service serves this path"}


@dataclass(frozen=True)
class LoadBalancer:
    alb: aws.lb.LoadBalancer
    https_listener: aws.lb.Listener
    target_groups: dict[str, aws.lb.TargetGroup]
    rules: dict[str, list[aws.lb.ListenerRule]]


def build_load_balancer(
    cfg: StackConfig, network: Network, groups: SecurityGroups, routes: Iterable[ServiceRoute] = SERVICES
) -> LoadBalancer:
    routes = tuple(routes)
    n = cfg.naming
    alb = aws.lb.LoadBalancer(
        n.name("alb"),
        name=n.name("alb"),
        load_balancer_type="application",
        internal=False,
        subnets=network.public_subnet_ids,
        security_groups=[groups.alb.id],
        idle_timeout=60,  # uvicorn keeps connections 75 s, longer than this, to avoid 502s
        drop_invalid_header_fields=True,
        enable_deletion_protection=cfg.protect_data,
    )
    https = aws.lb.Listener(
        n.name("https"),
        load_balancer_arn=alb.arn,
        port=443,
        protocol="HTTPS",
        ssl_policy=TLS_POLICY,
        certificate_arn=cfg.certificate_arn,
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(
                type="fixed-response",
                fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                    status_code="404", content_type="application/json", message_body=json.dumps(NOT_FOUND)
                ),
            )
        ],
    )
    aws.lb.Listener(
        n.name("http"),
        load_balancer_arn=alb.arn,
        port=80,
        protocol="HTTP",
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443", status_code="HTTP_301"),
            )
        ],
    )

    target_groups = {
        # Auto-named (a random suffix) so a replacement can be created before the old one goes;
        # "<stack>-<service>-1a2b3c4" stays within the 32-character limit.
        r.name: aws.lb.TargetGroup(
            f"{cfg.stack}-{r.name}",
            port=r.port,
            protocol="HTTP",
            target_type="ip",  # Fargate tasks register by IP
            vpc_id=network.vpc.id,
            deregistration_delay=30,  # uvicorn drains within 20 s; the default 300 s slows deploys
            load_balancing_algorithm_type="least_outstanding_requests",
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path="/health",
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags={"service": r.name},
        )
        for r in routes
    }
    rules: dict[str, list[aws.lb.ListenerRule]] = {r.name: [] for r in routes}
    for plan in plan_rules(routes):
        rules[plan.service].append(
            aws.lb.ListenerRule(
                n.name("rule", str(plan.priority)),
                listener_arn=https.arn,
                priority=plan.priority,
                conditions=[
                    aws.lb.ListenerRuleConditionArgs(
                        path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=list(plan.path_patterns))
                    )
                ],
                actions=[
                    aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_groups[plan.service].arn)
                ],
                tags={"service": plan.service, "prefix": plan.prefix},
                opts=pulumi.ResourceOptions(delete_before_replace=True),  # priorities are unique per listener
            )
        )
    return LoadBalancer(alb=alb, https_listener=https, target_groups=target_groups, rules=rules)
