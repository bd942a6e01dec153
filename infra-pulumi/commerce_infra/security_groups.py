"""Security groups chained internet -> ALB -> services -> RDS Proxy -> database, and nothing else.

Every rule is its own resource that names its peer group, so a test can read the whole graph, and
a service's `http_peers` (routing table: its `calls` plus the token issuer) are the only extra edges
between services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.naming import StackNaming
from commerce_platform.routing import SERVICES, ServiceRoute

POSTGRES_PORT = 5432
HTTPS_PORT = 443
HTTP_PORT = 80
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class SecurityGroups:
    alb: aws.ec2.SecurityGroup
    services: dict[str, aws.ec2.SecurityGroup]
    # One-off tasks: migrations and the database bootstrap. They reach the proxy, nothing serves them.
    jobs: aws.ec2.SecurityGroup
    proxy: aws.ec2.SecurityGroup
    database: aws.ec2.SecurityGroup


def callers_of(route: ServiceRoute, routes: Iterable[ServiceRoute] = SERVICES) -> list[ServiceRoute]:
    return [r for r in routes if route.name in r.http_peers]


class _Rules:
    """Creates named ingress/egress rules; names stay stable because they come from the table."""

    def __init__(self, naming: StackNaming) -> None:
        self.naming = naming

    def ingress(
        self,
        name: str,
        sg: aws.ec2.SecurityGroup,
        port: int,
        *,
        peer: aws.ec2.SecurityGroup | None = None,
        cidr: str | None = None,
        description: str,
    ) -> None:
        aws.vpc.SecurityGroupIngressRule(
            self.naming.name("in", name),
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=peer.id if peer is not None else None,
            cidr_ipv4=cidr,
            description=description,
        )

    def egress(
        self,
        name: str,
        sg: aws.ec2.SecurityGroup,
        port: int,
        *,
        peer: aws.ec2.SecurityGroup | None = None,
        cidr: str | None = None,
        description: str,
    ) -> None:
        aws.vpc.SecurityGroupEgressRule(
            self.naming.name("out", name),
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=peer.id if peer is not None else None,
            cidr_ipv4=cidr,
            description=description,
        )


def build_security_groups(
    naming: StackNaming, vpc_id: pulumi.Input[str], routes: Iterable[ServiceRoute] = SERVICES
) -> SecurityGroups:
    routes = tuple(routes)

    def group(name: str, description: str) -> aws.ec2.SecurityGroup:
        # No inline rules: the provider then removes AWS's default allow-all egress.
        return aws.ec2.SecurityGroup(
            naming.name(name), vpc_id=vpc_id, description=description, tags={"Name": naming.name(name)}
        )

    alb = group("alb", "Internet-facing load balancer")
    services = {r.name: group(f"svc-{r.name}", f"{r.name} service tasks") for r in routes}
    jobs = group("jobs", "One-off migration and database bootstrap tasks")
    proxy = group("rds-proxy", "RDS Proxy")
    database = group("db", "PostgreSQL instance, reachable only from the proxy")
    rules = _Rules(naming)

    # internet -> ALB: the only rules in the stack open to 0.0.0.0/0.
    rules.ingress("alb-https", alb, HTTPS_PORT, cidr=ANYWHERE, description="HTTPS from the internet")
    rules.ingress("alb-http", alb, HTTP_PORT, cidr=ANYWHERE, description="HTTP, redirected to HTTPS")

    for route in routes:
        sg = services[route.name]
        # ALB -> service on its routing-table port (traffic and /health checks).
        rules.egress(f"alb-{route.name}", alb, route.port, peer=sg, description=f"to {route.name}")
        rules.ingress(f"{route.name}-alb", sg, route.port, peer=alb, description="from the ALB")
        # service -> service only where the routing table says it calls, or fetches signing keys.
        for caller in callers_of(route, routes):
            rules.ingress(
                f"{route.name}-{caller.name}",
                sg,
                route.port,
                peer=services[caller.name],
                description=f"from {caller.name} (Service Connect)",
            )
            rules.egress(
                f"{caller.name}-{route.name}",
                services[caller.name],
                route.port,
                peer=sg,
                description=f"to {route.name}",
            )
        # service -> proxy, and HTTPS out for AWS APIs (via NAT or endpoints) and Stripe.
        rules.egress(f"{route.name}-proxy", sg, POSTGRES_PORT, peer=proxy, description="to RDS Proxy")
        rules.ingress(f"proxy-{route.name}", proxy, POSTGRES_PORT, peer=sg, description=f"from {route.name}")
        rules.egress(f"{route.name}-https", sg, HTTPS_PORT, cidr=ANYWHERE, description="AWS APIs, Stripe")

    rules.egress("jobs-proxy", jobs, POSTGRES_PORT, peer=proxy, description="to RDS Proxy")
    rules.ingress("proxy-jobs", proxy, POSTGRES_PORT, peer=jobs, description="from migration tasks")
    rules.egress("jobs-https", jobs, HTTPS_PORT, cidr=ANYWHERE, description="ECR, logs, Secrets Manager")

    # proxy -> database; the database itself has no egress at all.
    rules.egress("proxy-db", proxy, POSTGRES_PORT, peer=database, description="to the database")
    rules.ingress("db-proxy", database, POSTGRES_PORT, peer=proxy, description="from RDS Proxy only")
    return SecurityGroups(alb=alb, services=services, jobs=jobs, proxy=proxy, database=database)


def allow_https_from_tasks(
    naming: StackNaming, groups: SecurityGroups, vpc_id: pulumi.Input[str]
) -> aws.ec2.SecurityGroup:
    """Group for interface VPC endpoints: HTTPS from service and job tasks only."""
    sg = aws.ec2.SecurityGroup(
        naming.name("endpoints"),
        vpc_id=vpc_id,
        description="Interface VPC endpoints",
        tags={"Name": naming.name("endpoints")},
    )
    rules = _Rules(naming)
    for name, peer in [*groups.services.items(), ("jobs", groups.jobs)]:
        rules.ingress(f"endpoints-{name}", sg, HTTPS_PORT, peer=peer, description=f"from {name}")
    return sg
