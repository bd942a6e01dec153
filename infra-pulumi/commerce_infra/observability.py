"""CloudWatch alarms and one dashboard, per routing-table service and per dead-letter queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_infra.database import Database
from commerce_infra.load_balancer import LoadBalancer
from commerce_infra.messaging import Messaging
from commerce_platform.routing import SERVICES, ServiceRoute

PERIOD = 300


@dataclass(frozen=True)
class Observability:
    alarm_topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    dashboard_url: str


class _Alarms:
    def __init__(self, cfg: StackConfig, topic: aws.sns.Topic) -> None:
        self.cfg, self.topic = cfg, topic
        self.made: dict[str, aws.cloudwatch.MetricAlarm] = {}

    def add(
        self,
        key: str,
        *,
        namespace: str,
        metric: str,
        dimensions: dict[str, pulumi.Input[str]],
        threshold: float,
        description: str,
        statistic: str | None = "Sum",
        extended_statistic: str | None = None,
        operator: str = "GreaterThanThreshold",
        periods: int = 1,
    ) -> None:
        name = self.cfg.naming.name(key)
        self.made[key] = aws.cloudwatch.MetricAlarm(
            name,
            name=name,
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=None if extended_statistic else statistic,
            extended_statistic=extended_statistic,
            period=PERIOD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            threshold=threshold,
            comparison_operator=operator,
            # No traffic is not an outage; a quiet dev stack should stay green.
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
        )


def _alb(lb: LoadBalancer, route: ServiceRoute | None = None) -> dict[str, pulumi.Input[str]]:
    dims: dict[str, pulumi.Input[str]] = {"LoadBalancer": lb.alb.arn_suffix}
    if route is not None:
        dims["TargetGroup"] = lb.target_groups[route.name].arn_suffix
    return dims


def _widget(title: str, metrics: list[list[Any]], region: str, *, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric",
        "width": 8,
        "height": 6,
        "properties": {"title": title, "region": region, "stat": stat, "period": 60, "metrics": metrics},
    }


def _dashboard_body(
    cfg: StackConfig,
    routes: tuple[ServiceRoute, ...],
    lb: LoadBalancer,
    messaging: Messaging,
    db: Database,
    cluster_name: pulumi.Input[str],
) -> pulumi.Output[str]:
    region = cfg.region
    widgets: list[dict[str, Any]] = []
    for r in routes:
        tg = ["TargetGroup", lb.target_groups[r.name].arn_suffix, "LoadBalancer", lb.alb.arn_suffix]
        widgets += [
            _widget(
                f"{r.name}: requests and 5xx",
                [
                    ["AWS/ApplicationELB", "RequestCount", *tg],
                    ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *tg],
                ],
                region,
            ),
            _widget(
                f"{r.name}: latency p50 / p99",
                [
                    ["AWS/ApplicationELB", "TargetResponseTime", *tg, {"stat": "p50"}],
                    ["AWS/ApplicationELB", "TargetResponseTime", *tg, {"stat": "p99"}],
                ],
                region,
                stat="p99",
            ),
            _widget(
                f"{r.name}: CPU, memory, healthy targets",
                [
                    ["AWS/ECS", "CPUUtilization", "ClusterName", cluster_name, "ServiceName", r.name],
                    ["AWS/ECS", "MemoryUtilization", "ClusterName", cluster_name, "ServiceName", r.name],
                    ["AWS/ApplicationELB", "HealthyHostCount", *tg, {"stat": "Minimum"}],
                ],
                region,
                stat="Average",
            ),
        ]
    widgets.append(
        _widget(
            "Dead-letter queues (should be 0)",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name]
                for q in messaging.dead_letter_queues.values()
            ],
            region,
            stat="Maximum",
        )
    )
    widgets.append(
        _widget(
            "Database",
            [
                ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", db.instance.identifier],
                ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", db.instance.identifier],
                ["AWS/RDS", "ClientConnections", "ProxyName", db.proxy.name],
            ],
            region,
            stat="Average",
        )
    )
    return pulumi.Output.json_dumps({"widgets": widgets})


def build_observability(
    cfg: StackConfig,
    *,
    lb: LoadBalancer,
    messaging: Messaging,
    database: Database,
    cluster_name: pulumi.Input[str],
    routes: Iterable[ServiceRoute] = SERVICES,
) -> Observability:
    routes = tuple(routes)
    n, limits = cfg.naming, cfg.alarms
    # Not encrypted like the event topics: CloudWatch cannot publish to a topic under alias/aws/sns,
    # and alarms carry no customer data.
    topic = aws.sns.Topic(n.name("alarms"), name=n.name("alarms"))
    if limits.email:
        # SNS mails a confirmation link first; nothing arrives until it is clicked.
        aws.sns.TopicSubscription(n.name("alarms-email"), topic=topic.arn, protocol="email", endpoint=limits.email)
    alarms = _Alarms(cfg, topic)

    alarms.add(
        "alb-5xx",
        namespace="AWS/ApplicationELB",
        metric="HTTPCode_ELB_5XX_Count",
        dimensions=_alb(lb),
        threshold=limits.five_xx_per_5_minutes,
        description="The ALB itself answers 5xx (no healthy target?)",
    )
    for r in routes:
        alarms.add(
            f"{r.name}-5xx",
            namespace="AWS/ApplicationELB",
            metric="HTTPCode_Target_5XX_Count",
            dimensions=_alb(lb, r),
            threshold=limits.five_xx_per_5_minutes,
            description=f"{r.name} answers 5xx",
        )
        alarms.add(
            f"{r.name}-p99",
            namespace="AWS/ApplicationELB",
            metric="TargetResponseTime",
            dimensions=_alb(lb, r),
            extended_statistic="p99",
            threshold=limits.p99_latency_seconds,
            periods=3,
            description=f"{r.name} p99 latency above {limits.p99_latency_seconds}s for 15 minutes",
        )
        alarms.add(
            f"{r.name}-unhealthy",
            namespace="AWS/ApplicationELB",
            metric="UnHealthyHostCount",
            dimensions=_alb(lb, r),
            statistic="Maximum",
            threshold=0,
            periods=2,
            description=f"{r.name} has targets failing /health",
        )
    for queue_name, dlq in messaging.dead_letter_queues.items():
        alarms.add(
            f"{queue_name}-dlq",
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dlq.name},
            statistic="Maximum",
            threshold=0,
            description=f"{queue_name}: messages exhausted their receives and were dead-lettered",
        )
    db_dims: dict[str, pulumi.Input[str]] = {"DBInstanceIdentifier": database.instance.identifier}
    alarms.add(
        "db-cpu",
        namespace="AWS/RDS",
        metric="CPUUtilization",
        dimensions=db_dims,
        statistic="Average",
        threshold=limits.rds_cpu_percent,
        periods=3,
        description="Database CPU high for 15 minutes",
    )
    alarms.add(
        "db-connections",
        namespace="AWS/RDS",
        metric="DatabaseConnections",
        dimensions=db_dims,
        statistic="Maximum",
        threshold=cfg.database.connections_alarm_threshold,
        periods=2,
        description="Database connections near the instance's limit",
    )

    dashboard_name = n.name("services")
    dashboard = aws.cloudwatch.Dashboard(
        dashboard_name,
        dashboard_name=dashboard_name,
        dashboard_body=_dashboard_body(cfg, routes, lb, messaging, database, cluster_name),
    )
    url = (
        f"https://{cfg.region}.console.aws.amazon.com/cloudwatch/home?region={cfg.region}"
        f"#dashboards:name={dashboard_name}"
    )
    return Observability(alarm_topic=topic, alarms=alarms.made, dashboard=dashboard, dashboard_url=url)
