"""Interface VPC endpoints (optional): AWS API calls from tasks stay inside the VPC, off the NAT."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_infra.network import Network
from commerce_infra.security_groups import SecurityGroups, allow_https_from_tasks

# What tasks talk to: image pulls, logs, events, secrets, traces. S3 has a free gateway endpoint.
INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "logs", "sns", "sqs", "secretsmanager", "xray")


def build_interface_endpoints(cfg: StackConfig, network: Network, groups: SecurityGroups) -> list[aws.ec2.VpcEndpoint]:
    if not cfg.network.interface_endpoints:
        return []
    sg = allow_https_from_tasks(cfg.naming, groups, network.vpc.id)
    return [
        aws.ec2.VpcEndpoint(
            cfg.naming.name("vpce", service.replace(".", "-")),
            vpc_id=network.vpc.id,
            service_name=f"com.amazonaws.{cfg.region}.{service}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=network.private_subnet_ids,
            security_group_ids=[sg.id],
            tags={"Name": cfg.naming.name(service)},
            opts=pulumi.ResourceOptions(depends_on=[sg]),
        )
        for service in INTERFACE_SERVICES
    ]
