"""The Pulumi program under unit-test mocks (no CLI, no AWS), run with the committed dev and prod
stack configs: every routing-table service gets the whole treatment, and the security rules hold
for every resource the program declares."""

from __future__ import annotations

import json
from typing import Any

import pytest

from commerce_infra.listener_rules import path_patterns
from commerce_infra.policy_documents import UNSCOPABLE_ACTIONS
from commerce_platform.event_topology import QUEUES, TOPICS
from commerce_platform.routing import SERVICES, TOKEN_ISSUER, ServiceRoute

# Fixtures (dev_stack, prod_stack, run_stack) are in conftest.py; a run is a list of recorded
# resources with of_type(token) and inputs in Pulumi's wire names (camelCase).
ProgramRun = Any

TG = "aws:lb/targetGroup:TargetGroup"
RULE = "aws:lb/listenerRule:ListenerRule"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"

STACKS = ["dev", "prod"]
ACCOUNT_ID = "123456789012"  # the caller identity conftest's mocks answer with


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> ProgramRun:
    return request.getfixturevalue(f"{request.param}_stack")


def _by_tag(stack: ProgramRun, type_token: str, route: ServiceRoute) -> list[Any]:
    return [r for r in stack.of_type(type_token) if (r.inputs.get("tags") or {}).get("service") == route.name]


def _task_family(route: ServiceRoute, stack_name: str) -> str:
    return f"commerce-{stack_name}-{route.name}"


# --- ALB -------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_every_service_has_a_target_group_checking_health(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    (tg,) = _by_tag(dev_stack, TG, route)
    assert tg.inputs["port"] == route.port
    assert tg.inputs["targetType"] == "ip"
    assert tg.inputs["healthCheck"]["path"] == "/health"
    assert tg.inputs["healthCheck"]["matcher"] == "200"


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_every_prefix_has_a_listener_rule_to_its_service(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    rules = _by_tag(dev_stack, RULE, route)
    routed = {}
    for rule in rules:
        (condition,) = rule.inputs["conditions"]
        (action,) = rule.inputs["actions"]
        assert action["type"] == "forward"
        assert action["targetGroupArn"].endswith(f":dev-{route.name}")
        routed[rule.inputs["tags"]["prefix"]] = tuple(condition["pathPattern"]["values"])
    assert routed == {p: path_patterns(p) for p in route.path_prefixes}


def test_rule_priorities_are_unique_and_follow_the_table(dev_stack: ProgramRun) -> None:
    priorities = [(r.inputs["tags"]["service"], r.inputs["priority"]) for r in dev_stack.of_type(RULE)]
    assert len({p for _, p in priorities}) == len(priorities)
    order = [r.name for r in SERVICES]
    by_service = sorted(priorities, key=lambda sp: sp[1])
    assert [s for s, _ in by_service] == sorted((s for s, _ in by_service), key=order.index)


def test_https_listener_uses_the_configured_certificate_and_http_redirects(dev_stack: ProgramRun) -> None:
    listeners = {r.inputs["port"]: r.inputs for r in dev_stack.of_type("aws:lb/listener:Listener")}
    assert listeners[443]["protocol"] == "HTTPS"
    assert listeners[443]["certificateArn"].endswith(":certificate/test")
    assert listeners[443]["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    redirect = listeners[80]["defaultActions"][0]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}


# --- ECS -------------------------------------------------------------------------------------


def _containers(task: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_task_definition_has_app_sidecar_logs_and_secrets(stack: ProgramRun, route: ServiceRoute) -> None:
    stack_name = stack.stack
    (task,) = [t for t in stack.of_type(TASK) if t.inputs["family"] == _task_family(route, stack_name)]
    containers = _containers(task)
    app, sidecar = containers[route.name], containers["otel-collector"]
    assert "aws-otel-collector" in sidecar["image"]
    assert "awsxray" in next(e["value"] for e in sidecar["environment"] if e["name"] == "AOT_CONFIG_CONTENT")
    assert app["image"].endswith(f"/commerce-{stack_name}/{route.name}:abc123")
    assert app["portMappings"][0]["containerPort"] == route.port
    assert app["healthCheck"]["command"][:2] == ["CMD", "python"]
    assert app["readonlyRootFilesystem"] is True
    assert app["user"] == "10001:10001"
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["PORT"] == str(route.port)
    assert env["RUN_MIGRATIONS_ON_START"] == "false"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4318"
    assert env["SNS_TOPIC_ARN_PREFIX"] == f"arn:aws:sns:eu-west-1:123456789012:commerce-{stack_name}-"
    assert "DATABASE_URL" not in env  # a secret, never plain environment
    secrets = {s["name"]: s["valueFrom"] for s in app["secrets"]}
    assert secrets["DATABASE_URL"].endswith(f"commerce-{stack_name}/{route.name}/DATABASE_URL")
    log_group = f"/ecs/commerce-{stack_name}/{route.name}"
    assert app["logConfiguration"]["options"]["awslogs-group"] == log_group
    (group,) = [g for g in stack.of_type(LOG_GROUP) if g.inputs["name"] == log_group]
    assert group.inputs["retentionInDays"] > 0


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_service_has_circuit_breaker_and_autoscaling(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    (svc,) = [s for s in dev_stack.of_type(SERVICE) if s.inputs["name"] == route.name]
    assert svc.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert svc.inputs["loadBalancers"][0]["containerPort"] == route.port
    assert svc.inputs["networkConfiguration"]["assignPublicIp"] is False
    assert svc.inputs["serviceConnectConfiguration"]["services"][0]["clientAlias"][0]["dnsName"] == route.name
    (target,) = [t for t in dev_stack.of_type(SCALING_TARGET) if t.inputs["resourceId"].endswith(f"/{route.name}")]
    assert target.inputs["minCapacity"] <= target.inputs["maxCapacity"]
    policies = [p for p in dev_stack.of_type(SCALING_POLICY) if p.inputs["resourceId"] == target.inputs["resourceId"]]
    kinds = {
        p.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]["predefinedMetricType"]
        for p in policies
    }
    assert kinds == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_migration_task_runs_the_platform_migrator(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    (task,) = [t for t in dev_stack.of_type(TASK) if t.inputs["family"] == f"commerce-dev-{route.name}-migrate"]
    (container,) = _containers(task).values()
    assert container["command"] == ["python", "-m", "commerce_platform.migrate", route.name]
    assert {s["name"] for s in container["secrets"]} == {"DATABASE_URL"}
    assert "taskRoleArn" not in task.inputs  # talks only to Postgres


def test_without_an_image_tag_nothing_runs_yet(run_stack) -> None:
    fresh = run_stack("dev", {"commerce:imageTag": "", "commerce:migrationImageTag": ""})
    assert fresh.of_type(SERVICE) == []
    assert fresh.of_type(TASK) == []
    assert len(fresh.of_type("aws:ecr/repository:Repository")) == len(SERVICES)
    assert len(fresh.of_type(TG)) == len(SERVICES)


def test_previous_signing_keys_reach_only_the_user_service(dev_stack: ProgramRun, run_stack) -> None:
    rotating = run_stack("dev", {"commerce:jwtPreviousPublicKeys": "-----BEGIN PUBLIC KEY-----"})
    for run, expected in ((dev_stack, None), (rotating, "-----BEGIN PUBLIC KEY-----")):
        for route in SERVICES:
            (task,) = [t for t in run.of_type(TASK) if t.inputs["family"] == _task_family(route, "dev")]
            env = {e["name"]: e["value"] for e in _containers(task)[route.name]["environment"]}
            assert env.get("JWT_PREVIOUS_PUBLIC_KEYS") == (expected if route.name == TOKEN_ISSUER else None)


# --- database ----------------------------------------------------------------------------------


def test_database_is_private_encrypted_and_backed_up(stack: ProgramRun) -> None:
    (db,) = stack.of_type("aws:rds/instance:Instance")
    assert db.inputs["publiclyAccessible"] is False
    assert db.inputs["storageEncrypted"] is True
    assert db.inputs["backupRetentionPeriod"] >= 1
    (proxy,) = stack.of_type("aws:rds/proxy:Proxy")
    assert proxy.inputs["requireTls"] is True
    assert all(a["authScheme"] == "SECRETS" for a in proxy.inputs["auths"])
    # One auth per service role plus the administrator used by the bootstrap task.
    assert len(proxy.inputs["auths"]) == len(SERVICES) + 1
    (params,) = stack.of_type("aws:rds/parameterGroup:ParameterGroup")
    assert ("rds.force_ssl", "1") in [(p["name"], p["value"]) for p in params.inputs["parameters"]]


def test_prod_protects_its_data_and_dev_does_not(dev_stack: ProgramRun, prod_stack: ProgramRun) -> None:
    (dev_db,) = dev_stack.of_type("aws:rds/instance:Instance")
    (prod_db,) = prod_stack.of_type("aws:rds/instance:Instance")
    assert prod_db.inputs["deletionProtection"] is True
    assert prod_db.inputs["multiAz"] is True
    assert prod_db.inputs.get("skipFinalSnapshot") is False
    assert dev_db.inputs["deletionProtection"] is False
    assert dev_db.inputs["multiAz"] is False


def test_proxy_and_database_have_no_public_path(stack: ProgramRun) -> None:
    (proxy,) = stack.of_type("aws:rds/proxy:Proxy")
    subnets = stack.of_type("aws:ec2/subnet:Subnet")
    private = [s.inputs["cidrBlock"] for s in subnets if s.inputs["tags"]["tier"] == "private"]
    assert proxy.inputs["vpcSubnetIds"] and len(proxy.inputs["vpcSubnetIds"]) == len(private)
    assert all("private" in sid for sid in proxy.inputs["vpcSubnetIds"])
    (group,) = stack.of_type("aws:rds/subnetGroup:SubnetGroup")
    assert all("private" in sid for sid in group.inputs["subnetIds"])


def test_database_urls_use_each_roles_own_credentials_through_the_proxy(dev_stack: ProgramRun) -> None:
    versions = {
        v.name: v.inputs["secretString"] for v in dev_stack.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    }
    for route in SERVICES:
        url = versions[f"commerce-dev-secret-{route.name}-url"]
        assert url.startswith(f"postgresql+asyncpg://{route.db_role}:")
        assert ".proxy-" in url and url.endswith("/commerce?sslmode=require")
    passwords = {json.loads(versions[f"commerce-dev-secret-{r.name}-db"])["password"] for r in SERVICES}
    assert len(passwords) == len(SERVICES)  # no two roles share a password


# --- messaging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES, ids=lambda q: q.name)
def test_every_queue_has_a_dlq_and_accepts_only_its_topics(dev_stack: ProgramRun, queue) -> None:
    queues = {q.inputs["name"]: q.inputs for q in dev_stack.of_type(QUEUE)}
    main = queues[f"commerce-dev-{queue.name}"]
    redrive = json.loads(main["redrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f":commerce-dev-{queue.dead_letter_name}")
    assert redrive["maxReceiveCount"] == queue.max_receive_count
    assert f"commerce-dev-{queue.dead_letter_name}" in queues

    (policy,) = [
        p for p in dev_stack.of_type(QUEUE_POLICY) if p.inputs["queueUrl"].endswith(f"/commerce-dev-{queue.name}")
    ]
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"].endswith(f":commerce-dev-{queue.name}")
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(s.rsplit(":", 1)[1] for s in sources) == sorted(f"commerce-dev-{t}" for t in queue.subscribes_to)

    subs = [s for s in dev_stack.of_type(SUBSCRIPTION) if s.inputs["endpoint"].endswith(f":commerce-dev-{queue.name}")]
    expected_topics = sorted(f"commerce-dev-{t}" for t in queue.subscribes_to)
    assert sorted(s.inputs["topic"].rsplit(":", 1)[1] for s in subs) == expected_topics
    assert all(s.inputs["rawMessageDelivery"] is True and s.inputs["protocol"] == "sqs" for s in subs)
    policies = {
        s.inputs["topic"].rsplit(":", 1)[1].removeprefix("commerce-dev-"): s.inputs.get("filterPolicy") for s in subs
    }
    for topic_name, policy in policies.items():
        expected = queue.filter_policy(topic_name)
        assert (json.loads(policy) if policy else None) == expected, (queue.name, topic_name)


def test_event_topics_are_encrypted_and_the_queues_too(stack: ProgramRun) -> None:
    topics = {t.inputs["name"]: t.inputs for t in stack.of_type("aws:sns/topic:Topic")}
    for topic in TOPICS:
        # Events carry emails and addresses; the AWS-managed key needs no KMS rights for publishers.
        assert topics[f"commerce-{stack.stack}-{topic.name}"].get("kmsMasterKeyId") == "alias/aws/sns"
    # SNS delivers to these because they use SSE-SQS, not a KMS key whose policy would have to allow it.
    assert all(q.inputs["sqsManagedSseEnabled"] is True for q in stack.of_type(QUEUE))


# --- network security ----------------------------------------------------------------------


def test_only_the_alb_is_open_to_the_internet(stack: ProgramRun) -> None:
    groups = {g.name: g for g in stack.of_type(SG)}
    for group in groups.values():
        assert not group.inputs.get("ingress"), "rules must be separate resources so they can be audited"
    open_rules = [r for r in stack.of_type(INGRESS) if r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6")]
    assert open_rules, "the ALB must be reachable"
    for rule in open_rules:
        assert rule.inputs["securityGroupId"].startswith(next(n for n in groups if n.endswith("-alb")))
        assert rule.inputs["fromPort"] in (80, 443)


def test_database_accepts_only_the_proxy(stack: ProgramRun) -> None:
    db_rules = [r for r in stack.of_type(INGRESS) if r.inputs["securityGroupId"].endswith("-db-id")]
    assert len(db_rules) == 1
    assert db_rules[0].inputs["referencedSecurityGroupId"].endswith("-rds-proxy-id")
    assert db_rules[0].inputs["fromPort"] == 5432


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_service_accepts_only_the_alb_and_its_callers_on_its_port(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    own_group = f"commerce-dev-svc-{route.name}-id"
    rules = [r for r in dev_stack.of_type(INGRESS) if r.inputs["securityGroupId"] == own_group]
    peers = {r.inputs["referencedSecurityGroupId"] for r in rules}
    # Callers: `calls` in the routing table, and for the token issuer every other service (JWKS).
    callers = {
        f"commerce-dev-svc-{c.name}-id"
        for c in SERVICES
        if route.name in c.calls or (route.name == TOKEN_ISSUER and c.name != route.name)
    }
    assert peers == {"commerce-dev-alb-id", *callers}
    assert all(r.inputs["fromPort"] == r.inputs["toPort"] == route.port for r in rules)


@pytest.mark.parametrize("route", [r for r in SERVICES if r.name != TOKEN_ISSUER], ids=lambda r: r.name)
def test_every_service_can_fetch_signing_keys_from_the_issuer(stack: ProgramRun, route: ServiceRoute) -> None:
    """Every service verifies bearer tokens against the user service's JWKS, `calls` or not."""
    issuer = next(r for r in SERVICES if r.name == TOKEN_ISSUER)
    prefix = f"commerce-{stack.stack}-svc-"
    own, issuer_group = f"{prefix}{route.name}-id", f"{prefix}{issuer.name}-id"
    ingress = [
        r.inputs
        for r in stack.of_type(INGRESS)
        if r.inputs["securityGroupId"] == issuer_group and r.inputs.get("referencedSecurityGroupId") == own
    ]
    egress = [
        r.inputs
        for r in stack.of_type(EGRESS)
        if r.inputs["securityGroupId"] == own and r.inputs.get("referencedSecurityGroupId") == issuer_group
    ]
    assert [(r["fromPort"], r["toPort"]) for r in ingress] == [(issuer.port, issuer.port)]
    assert [(r["fromPort"], r["toPort"]) for r in egress] == [(issuer.port, issuer.port)]


# --- IAM -----------------------------------------------------------------------------------


def _statements(stack: ProgramRun) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for policy in stack.of_type(ROLE_POLICY):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            out.append((policy.name, statement))
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_role_may_do_anything_to_everything(stack: ProgramRun) -> None:
    for name, statement in _statements(stack):
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        assert all(a != "*" and not a.endswith(":*") for a in actions), (name, statement)
        if "*" in resources:
            # Only actions AWS offers no narrower resource for may use Resource "*".
            assert set(actions) <= UNSCOPABLE_ACTIONS, (name, statement)


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_task_role_grants_exactly_what_the_routing_table_says(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    (policy,) = [p for p in dev_stack.of_type(ROLE_POLICY) if p.name == f"commerce-dev-task-{route.name}"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    granted: dict[str, set[str]] = {}
    for s in statements:
        for action in _as_list(s["Action"]):
            granted.setdefault(action, set()).update(_as_list(s.get("Resource", s.get("NotResource"))))
    publish_to = {r.rsplit(":", 1)[1] for r in granted.get("sns:Publish", set()) if not r.endswith(":*")}
    assert publish_to == {f"commerce-dev-{t}" for t in route.publishes}
    receive_from = {r.rsplit(":", 1)[1] for r in granted.get("sqs:ReceiveMessage", set())}
    assert receive_from == {f"commerce-dev-{q}" for q in route.consumes}
    # Consumers may send only to their own queues' dead-letter queues (malformed messages).
    send_to = {r.rsplit(":", 1)[1] for r in granted.get("sqs:SendMessage", set())}
    assert send_to == {f"commerce-dev-{q}-dlq" for q in route.consumes}
    assert ("ses:SendEmail" in granted) == route.sends_email
    assert ("arn:aws:sns:*:*:*" in granted.get("sns:Publish", set())) == route.sends_sms
    assert "xray:PutTraceSegments" in granted
    # /ready's broker check reads its own topic or queue; nothing may list every queue.
    topic_reads = {r.rsplit(":", 1)[1] for r in granted.get("sns:GetTopicAttributes", set())}
    assert topic_reads == {f"commerce-dev-{t}" for t in route.publishes}
    queue_reads = {r.rsplit(":", 1)[1] for r in granted.get("sqs:GetQueueAttributes", set())}
    assert queue_reads == {f"commerce-dev-{q}" for q in route.consumes}
    assert "sqs:ListQueues" not in granted
    # ECS injects secrets with the execution role; stolen task credentials must not read them.
    assert not any(action.startswith("secretsmanager:") for action in granted)


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_execution_role_reaches_only_its_own_image_logs_and_secrets(dev_stack: ProgramRun, route: ServiceRoute) -> None:
    (policy,) = [p for p in dev_stack.of_type(ROLE_POLICY) if p.name == f"commerce-dev-exec-{route.name}"]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert [r.rsplit(":", 1)[1] for r in statements["PullOwnImage"]["Resource"]] == [f"commerce-dev/{route.name}"]
    assert all(f"/ecs/commerce-dev/{route.name}" in r for r in statements["WriteOwnLogs"]["Resource"])
    assert all(f"commerce-dev/{route.name}/" in r for r in statements["InjectOwnSecrets"]["Resource"])


def test_rds_proxy_role_trusts_only_rds_of_this_account(stack: ProgramRun) -> None:
    (role,) = [r for r in stack.of_type("aws:iam/role:Role") if r.name == f"commerce-{stack.stack}-rds-proxy"]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "rds.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


# --- observability -------------------------------------------------------------------------


def test_alarms_cover_5xx_latency_health_dlqs_and_the_database(dev_stack: ProgramRun) -> None:
    alarms = {a.inputs["name"]: a.inputs for a in dev_stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["commerce-dev-alb-5xx"]["metricName"] == "HTTPCode_ELB_5XX_Count"
    for route in SERVICES:
        assert alarms[f"commerce-dev-{route.name}-p99"]["extendedStatistic"] == "p99"
        assert alarms[f"commerce-dev-{route.name}-unhealthy"]["metricName"] == "UnHealthyHostCount"
        assert alarms[f"commerce-dev-{route.name}-5xx"]["metricName"] == "HTTPCode_Target_5XX_Count"
    for queue in QUEUES:
        dlq = alarms[f"commerce-dev-{queue.name}-dlq"]
        assert dlq["dimensions"] == {"QueueName": f"commerce-dev-{queue.dead_letter_name}"}
        assert dlq["threshold"] == 0 and dlq["comparisonOperator"] == "GreaterThanThreshold"
    assert alarms["commerce-dev-db-cpu"]["metricName"] == "CPUUtilization"
    assert alarms["commerce-dev-db-connections"]["metricName"] == "DatabaseConnections"
    assert all(a["alarmActions"] for a in alarms.values())


def test_dashboard_has_a_row_per_service(dev_stack: ProgramRun) -> None:
    (dashboard,) = dev_stack.of_type("aws:cloudwatch/dashboard:Dashboard")
    titles = [w["properties"]["title"] for w in json.loads(dashboard.inputs["dashboardBody"])["widgets"]]
    for route in SERVICES:
        assert any(t.startswith(f"{route.name}:") for t in titles)
    assert "Database" in titles
