"""The ECS cluster, its Fargate capacity providers and the Service Connect namespace."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig


@dataclass(frozen=True)
class Cluster:
    cluster: aws.ecs.Cluster
    namespace: aws.servicediscovery.HttpNamespace
    capacity: aws.ecs.ClusterCapacityProviders


def build_cluster(cfg: StackConfig) -> Cluster:
    n = cfg.naming
    # Service Connect resolves http://<service>:<port> inside the cluster, like compose's DNS.
    namespace = aws.servicediscovery.HttpNamespace(n.name("ns"), name=f"{n.prefix}.local")
    cluster = aws.ecs.Cluster(
        n.name("cluster"),
        name=n.name("cluster"),
        settings=[
            aws.ecs.ClusterSettingArgs(
                name="containerInsights", value="enabled" if cfg.container_insights else "disabled"
            )
        ],
        service_connect_defaults=aws.ecs.ClusterServiceConnectDefaultsArgs(namespace=namespace.arn),
    )
    capacity = aws.ecs.ClusterCapacityProviders(
        n.name("cluster"),
        cluster_name=cluster.name,
        capacity_providers=["FARGATE", "FARGATE_SPOT"],
        default_capacity_provider_strategies=[
            aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                capacity_provider="FARGATE_SPOT" if cfg.fargate_spot else "FARGATE", weight=1
            )
        ],
        opts=pulumi.ResourceOptions(parent=cluster),
    )
    return Cluster(cluster=cluster, namespace=namespace, capacity=capacity)
