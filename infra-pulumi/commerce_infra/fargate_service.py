"""FargateService: the one component every routing-table service is deployed with.

Task definition (app + ADOT collector sidecar), log group with retention, secrets from Secrets
Manager, container health check, ECS service behind its ALB target group with a deployment
circuit breaker that rolls back, Service Connect, and target-tracking autoscaling on CPU and on
ALB requests per target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from commerce_infra.config import ServiceSizing
from commerce_infra.containers import TMP_VOLUME, app_container, collector_container
from commerce_platform.routing import ServiceRoute

SCALE_OUT_COOLDOWN = 60
# Scale in slowly: a brief lull must not drop capacity a deploy or a burst is about to need.
SCALE_IN_COOLDOWN = 300


@dataclass(frozen=True)
class FargateServiceArgs:
    route: ServiceRoute
    sizing: ServiceSizing
    family: str
    image: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    namespace_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    # "app/<alb>/<id>/targetgroup/<tg>/<id>": the ALBRequestCountPerTarget metric's dimension.
    request_count_label: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    task_role_arn: pulumi.Input[str]
    environment: Mapping[str, pulumi.Input[str]]
    secrets: Mapping[str, pulumi.Input[str]]
    log_group_name: str
    log_retention_days: int
    region: str
    use_spot: bool = False
    # The listener rules: a target group must be attached to the ALB before a service uses it.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class FargateService(pulumi.ComponentResource):
    log_group: aws.cloudwatch.LogGroup
    task_definition: aws.ecs.TaskDefinition
    service: aws.ecs.Service
    scaling_target: aws.appautoscaling.Target

    def __init__(self, name: str, args: FargateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("commerce:ecs:FargateService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        route, size = args.route, args.sizing

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=args.log_group_name, retention_in_days=args.log_retention_days, opts=child
        )
        containers = [
            app_container(
                route,
                image=args.image,
                environment=args.environment,
                secrets=args.secrets,
                log_group=self.log_group.name,
                region=args.region,
            ),
            collector_container(log_group=self.log_group.name, region=args.region),
        ]
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=args.family,
            cpu=str(size.cpu),
            memory=str(size.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=args.execution_role_arn,
            task_role_arn=args.task_role_arn,
            # The only writable path of a read-only root filesystem.
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
            container_definitions=pulumi.Output.json_dumps(containers),
            opts=child,
        )
        strategy = "FARGATE_SPOT" if args.use_spot else "FARGATE"
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=route.name,
            cluster=args.cluster_arn,
            task_definition=self.task_definition.arn,
            desired_count=size.min_tasks,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=strategy, weight=1)
            ],
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=list(args.subnet_ids), security_groups=[args.security_group_id], assign_public_ip=False
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn, container_name=route.name, container_port=route.port
                )
            ],
            health_check_grace_period_seconds=60,
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            service_connect_configuration=aws.ecs.ServiceServiceConnectConfigurationArgs(
                enabled=True,
                namespace=args.namespace_arn,
                services=[
                    aws.ecs.ServiceServiceConnectConfigurationServiceArgs(
                        port_name=route.name,
                        discovery_name=route.name,
                        client_alias=[
                            aws.ecs.ServiceServiceConnectConfigurationServiceClientAliasArgs(
                                port=route.port, dns_name=route.name
                            )
                        ],
                    )
                ],
            ),
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            # `pulumi up` fails (and CI goes red) when a rollout does not settle or is rolled back.
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                # Autoscaling owns the running count after creation; a deploy must not reset it.
                ignore_changes=["desiredCount"],
            ),
        )
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", self.service.name),
            min_capacity=size.min_tasks,
            max_capacity=size.max_tasks,
            opts=child,
        )
        self._target_tracking(
            f"{name}-cpu",
            target=size.cpu_target_percent,
            metric=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type="ECSServiceAverageCPUUtilization"
            ),
        )
        self._target_tracking(
            f"{name}-requests",
            target=size.requests_per_target,
            metric=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type="ALBRequestCountPerTarget", resource_label=args.request_count_label
            ),
        )
        self.register_outputs({"service_name": self.service.name, "task_definition": self.task_definition.arn})

    def _target_tracking(
        self,
        name: str,
        *,
        target: float,
        metric: aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs,
    ) -> aws.appautoscaling.Policy:
        return aws.appautoscaling.Policy(
            name,
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=target,
                predefined_metric_specification=metric,
                scale_out_cooldown=SCALE_OUT_COOLDOWN,
                scale_in_cooldown=SCALE_IN_COOLDOWN,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
