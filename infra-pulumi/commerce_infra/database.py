"""RDS PostgreSQL (private, encrypted) behind RDS Proxy (TLS required, Secrets Manager auth), and
each service's credentials and DATABASE_URL as secrets."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_infra.network import Network
from commerce_infra.passwords import derive_password
from commerce_infra.policy_documents import assume_role
from commerce_infra.security_groups import POSTGRES_PORT, SecurityGroups
from commerce_platform.routing import SERVICES, ServiceRoute

ADMIN_USER = "commerce_admin"
DATABASE_NAME = "commerce"


@dataclass(frozen=True)
class Database:
    instance: aws.rds.Instance
    proxy: aws.rds.Proxy
    # {"username", "password"} of the master user, for the bootstrap task (through the proxy).
    admin_secret: aws.secretsmanager.Secret
    # {"username", "password"} per service role: what the proxy authenticates with.
    credentials: dict[str, aws.secretsmanager.Secret]
    # DATABASE_URL per service, injected into its tasks.
    database_urls: dict[str, aws.secretsmanager.Secret]


def database_url(role: str, password: str, host: str) -> str:
    """asyncpg URL through the proxy. sslmode=require because the proxy refuses plain connections."""
    return f"postgresql+asyncpg://{role}:{password}@{host}:{POSTGRES_PORT}/{DATABASE_NAME}?sslmode=require"


def _secret(cfg: StackConfig, logical: str, name: str, value: pulumi.Input[str]) -> aws.secretsmanager.Secret:
    secret = aws.secretsmanager.Secret(
        cfg.naming.name("secret", logical),
        name=name,
        # Dev stacks are torn down and rebuilt; a recovery window would block reusing the name.
        recovery_window_in_days=7 if cfg.protect_data else 0,
    )
    aws.secretsmanager.SecretVersion(
        cfg.naming.name("secret", logical), secret_id=secret.id, secret_string=pulumi.Output.secret(value)
    )
    return secret


def _derived(seed: pulumi.Output[str], purpose: str) -> pulumi.Output[str]:
    return seed.apply(lambda value: derive_password(value, purpose))


def _database_url(role: str, host: pulumi.Output[str], password: pulumi.Output[str]) -> pulumi.Output[str]:
    return pulumi.Output.all(host, password).apply(lambda hp: database_url(role, hp[1], hp[0]))


def _credentials(username: str, password: pulumi.Output[str]) -> pulumi.Output[str]:
    return password.apply(lambda pw: json.dumps({"username": username, "password": pw}))


def build_database(
    cfg: StackConfig,
    network: Network,
    groups: SecurityGroups,
    account_id: pulumi.Input[str],
    routes: Iterable[ServiceRoute] = SERVICES,
) -> Database:
    routes = tuple(routes)
    n, db = cfg.naming, cfg.database
    seed = cfg.db_password_seed

    admin_password = _derived(seed, ADMIN_USER)
    admin_secret = _secret(cfg, "db-admin", n.secret("db", "admin"), _credentials(ADMIN_USER, admin_password))

    subnets = aws.rds.SubnetGroup(n.name("db"), subnet_ids=network.private_subnet_ids)
    params = aws.rds.ParameterGroup(
        n.name("db"),
        family=f"postgres{db.engine_version.split('.')[0]}",
        parameters=[
            aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
            aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="500"),
        ],
    )
    instance = aws.rds.Instance(
        n.name("db"),
        identifier=n.name("db"),
        engine="postgres",
        engine_version=db.engine_version,
        instance_class=db.instance_class,
        allocated_storage=db.allocated_storage_gb,
        max_allocated_storage=db.max_allocated_storage_gb,
        storage_type="gp3",
        storage_encrypted=True,
        publicly_accessible=False,
        multi_az=db.multi_az,
        db_name=DATABASE_NAME,
        username=ADMIN_USER,
        password=admin_password,
        db_subnet_group_name=subnets.name,
        parameter_group_name=params.name,
        vpc_security_group_ids=[groups.database.id],
        backup_retention_period=db.backup_retention_days,
        backup_window="02:00-03:00",
        maintenance_window="sun:03:30-sun:04:30",
        copy_tags_to_snapshot=True,
        deletion_protection=db.deletion_protection,
        skip_final_snapshot=not cfg.protect_data,
        final_snapshot_identifier=n.name("db-final") if cfg.protect_data else None,
        auto_minor_version_upgrade=True,
        performance_insights_enabled=db.performance_insights,
        enabled_cloudwatch_logs_exports=["postgresql"],
        tags={"Name": n.name("db")},
        opts=pulumi.ResourceOptions(protect=cfg.protect_data),
    )

    credentials: dict[str, aws.secretsmanager.Secret] = {}
    passwords: dict[str, pulumi.Output[str]] = {}
    for route in routes:
        passwords[route.name] = _derived(seed, route.db_role)
        credentials[route.name] = _secret(
            cfg,
            f"{route.name}-db",
            n.secret(route.name, "db-credentials"),
            _credentials(route.db_role, passwords[route.name]),
        )

    proxy_role = aws.iam.Role(
        n.name("rds-proxy"),
        # Confused-deputy guard as on the task roles: this role reads every database credential.
        assume_role_policy=pulumi.Output.from_input(account_id).apply(
            lambda acct: json.dumps(assume_role("rds.amazonaws.com", source_account=acct))
        ),
    )
    secret_arns = [admin_secret.arn, *(s.arn for s in credentials.values())]
    aws.iam.RolePolicy(
        n.name("rds-proxy"),
        role=proxy_role.id,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secret_arns}
                ],
            }
        ),
    )
    proxy = aws.rds.Proxy(
        n.name("db-proxy"),
        name=n.name("db-proxy"),
        engine_family="POSTGRESQL",
        require_tls=True,
        idle_client_timeout=1800,
        role_arn=proxy_role.arn,
        vpc_subnet_ids=network.private_subnet_ids,
        vpc_security_group_ids=[groups.proxy.id],
        auths=[
            aws.rds.ProxyAuthArgs(
                auth_scheme="SECRETS",
                iam_auth="DISABLED",
                client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                secret_arn=arn,
            )
            for arn in secret_arns
        ],
    )
    aws.rds.ProxyDefaultTargetGroup(
        n.name("db-proxy"),
        db_proxy_name=proxy.name,
        connection_pool_config=aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
            max_connections_percent=90,  # leave room for an operator's direct session
            max_idle_connections_percent=50,
            connection_borrow_timeout=30,
        ),
    )
    aws.rds.ProxyTarget(
        n.name("db-proxy"),
        db_proxy_name=proxy.name,
        target_group_name="default",
        db_instance_identifier=instance.identifier,
    )

    database_urls = {
        route.name: _secret(
            cfg,
            f"{route.name}-url",
            n.secret(route.name, "DATABASE_URL"),
            _database_url(route.db_role, proxy.endpoint, passwords[route.name]),
        )
        for route in routes
    }
    return Database(
        instance=instance,
        proxy=proxy,
        admin_secret=admin_secret,
        credentials=credentials,
        database_urls=database_urls,
    )
