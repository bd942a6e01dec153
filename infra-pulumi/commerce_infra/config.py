"""Stack configuration read once from Pulumi config (`commerce:*`), with dev-sized defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pulumi

from commerce_infra.naming import PROJECT, StackNaming
from commerce_platform.routing import SERVICES, ServiceRoute


@dataclass(frozen=True, slots=True)
class ServiceSizing:
    """Fargate size and scaling bounds of one service (defaults, then per-service overrides)."""

    cpu: int = 256
    memory: int = 512
    min_tasks: int = 1
    max_tasks: int = 3
    cpu_target_percent: float = 60.0
    requests_per_target: float = 500.0


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    cidr: str = "10.40.0.0/16"
    availability_zones: int = 2
    # One NAT is the dev trade-off (an AZ outage cuts egress); prod sets one per AZ.
    nat_gateways: int = 1
    # Interface endpoints keep AWS API traffic off the NAT; each costs ~7 USD/month per AZ.
    interface_endpoints: bool = False


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    instance_class: str = "db.t4g.micro"
    engine_version: str = "17"
    allocated_storage_gb: int = 20
    max_allocated_storage_gb: int = 100
    multi_az: bool = False
    backup_retention_days: int = 7
    deletion_protection: bool = False
    performance_insights: bool = False
    connections_alarm_threshold: int = 80


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    email: str = ""
    p99_latency_seconds: float = 1.0
    five_xx_per_5_minutes: int = 10
    rds_cpu_percent: float = 80.0


@dataclass(frozen=True, slots=True)
class StackConfig:
    stack: str
    region: str
    certificate_arn: str
    db_password_seed: pulumi.Output[str]
    network: NetworkConfig = NetworkConfig()
    database: DatabaseConfig = DatabaseConfig()
    alarms: AlarmConfig = AlarmConfig()
    service_defaults: ServiceSizing = ServiceSizing()
    service_overrides: Mapping[str, ServiceSizing] = field(default_factory=dict)
    # Extra Secrets Manager secrets per service, e.g. {"user": ["JWT_PRIVATE_KEY"]}; values are
    # put by an operator (docs/deploy.md) so they never pass through Pulumi state.
    service_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Empty until CI has pushed images: then the stack builds everything but the ECS services.
    image_tag: str = ""
    migration_image_tag: str = ""
    log_retention_days: int = 30
    fargate_spot: bool = False
    container_insights: bool = True
    jwt_issuer: str = "commerce-user-service"
    jwt_audience: str = "commerce"
    # Earlier signing keys' public PEMs, while their tokens may still be live (a key rotation,
    # docs/deploy.md). Plain config, not a secret: they are public, and an empty Secrets Manager
    # entry would stop the user service's tasks from starting.
    jwt_previous_public_keys: str = ""
    ses_from_address: str = ""
    log_level: str = "INFO"

    @property
    def naming(self) -> StackNaming:
        return StackNaming(self.stack)

    @property
    def protect_data(self) -> bool:
        """Prod-like: keep the database, final snapshots and secrets when something is deleted."""
        return self.database.deletion_protection

    def sizing(self, route: ServiceRoute) -> ServiceSizing:
        return self.service_overrides.get(route.name, self.service_defaults)

    def secrets_for(self, route: ServiceRoute) -> tuple[str, ...]:
        return self.service_secrets.get(route.name, ())


def _typed(cls: type[Any], raw: Mapping[str, Any] | None, base: Any = None) -> Any:
    """camelCase config object -> dataclass, rejecting unknown keys so typos fail the preview."""
    base = base if base is not None else cls()
    if not raw:
        return base
    by_camel = {_camel(f.name): f.name for f in fields(cls)}
    unknown = set(raw) - set(by_camel)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; known: {sorted(by_camel)}")
    return replace(base, **{by_camel[k]: v for k, v in raw.items()})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check_service_names(kind: str, names: Mapping[str, Any]) -> None:
    # A warning, not an error: config may be written for a service a later change adds to the table.
    unknown = set(names) - {r.name for r in SERVICES}
    if unknown:
        pulumi.log.warn(f"{kind} names services not in the routing table (ignored): {sorted(unknown)}")


def load_config() -> StackConfig:
    cfg = pulumi.Config(PROJECT)
    defaults = _typed(ServiceSizing, cfg.get_object("serviceDefaults"))
    overrides_raw = cfg.get_object("serviceOverrides") or {}
    secrets_raw = cfg.get_object("serviceSecrets") or {}
    _check_service_names("serviceOverrides", overrides_raw)
    _check_service_names("serviceSecrets", secrets_raw)
    return StackConfig(
        stack=pulumi.get_stack(),
        region=pulumi.Config("aws").require("region"),
        certificate_arn=cfg.require("certificateArn"),
        db_password_seed=cfg.require_secret("dbPasswordSeed"),
        network=_typed(NetworkConfig, cfg.get_object("network")),
        database=_typed(DatabaseConfig, cfg.get_object("database")),
        alarms=_typed(AlarmConfig, cfg.get_object("alarms")),
        service_defaults=defaults,
        service_overrides={n: _typed(ServiceSizing, o, defaults) for n, o in overrides_raw.items()},
        service_secrets={n: tuple(v) for n, v in secrets_raw.items()},
        image_tag=cfg.get("imageTag") or "",
        migration_image_tag=cfg.get("migrationImageTag") or "",
        log_retention_days=cfg.get_int("logRetentionDays") or 30,
        fargate_spot=cfg.get_bool("fargateSpot") or False,
        container_insights=cfg.get_bool("containerInsights") is not False,
        jwt_issuer=cfg.get("jwtIssuer") or "commerce-user-service",
        jwt_audience=cfg.get("jwtAudience") or "commerce",
        jwt_previous_public_keys=cfg.get("jwtPreviousPublicKeys") or "",
        ses_from_address=cfg.get("sesFromAddress") or "",
        log_level=cfg.get("logLevel") or "INFO",
    )
