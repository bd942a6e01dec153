"""The one factory every service uses: settings, database, auth, problem details, health, telemetry,
logging and OpenAPI, so a service's own `app.py` only names its domain (our eShop ServiceDefaults)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import structlog
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar
from litestar._asgi.utils import wrap_in_exception_handler
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import ASGIApp, ControllerRouterHandler

from commerce_platform import migrations
from commerce_platform.admin_standing import AdminStanding, user_service_lookup
from commerce_platform.auth import KeySet, Principal, TokenVerifier, provide_optional_principal, provide_principal
from commerce_platform.aws import AwsClients
from commerce_platform.database import Database
from commerce_platform.errors import exception_handlers
from commerce_platform.health import HealthController, ReadinessCheck
from commerce_platform.http_client import ServiceClient, new_session
from commerce_platform.logs import configure_logging
from commerce_platform.request_context import request_context_middleware_factory
from commerce_platform.routing import SERVICES, TOKEN_ISSUER, ServiceRoute, service
from commerce_platform.settings import PlatformSettings, load_settings, service_url
from commerce_platform.telemetry import configure_tracing, shutdown_tracing

log = structlog.get_logger("commerce.app")

# A hook receives the running app; background workers run until cancelled at shutdown.
StartupHook = Callable[["Litestar"], Awaitable[None]]
BackgroundWorker = Callable[["Litestar"], Coroutine[Any, Any, None]]
KeySetFactory = Callable[["PlatformSettings", "ServiceClient"], KeySet]


@dataclass
class ServiceDefinition:
    """What makes one service itself; everything else comes from the platform."""

    name: str
    route_handlers: Sequence[ControllerRouterHandler]
    migrations_dir: Path
    description: str = ""
    settings_class: type[PlatformSettings] = PlatformSettings
    dependencies: dict[str, Provide] = field(default_factory=dict)
    on_startup: Sequence[StartupHook] = ()
    # Outbox relays and queue consumers: started when RUN_MODE is worker or all.
    workers: Sequence[BackgroundWorker] = ()
    # The user service verifies its own tokens without calling itself over HTTP.
    key_set_factory: KeySetFactory | None = None
    signature_namespace: dict[str, Any] = field(default_factory=dict)


class ServiceApp(Litestar):
    """Litestar with our request-context middleware around the whole router, so unmatched routes
    (404/405) get a request id, an access line and `x-served-by` too; route middleware would miss them.
    Order stays: OpenTelemetry (outermost, so logs carry the trace id) -> request context -> router."""

    def __init__(self, *, request_context: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        self._request_context = request_context
        super().__init__(**kwargs)

    def _create_asgi_handler(self) -> ASGIApp:
        handler: ASGIApp = self._request_context(wrap_in_exception_handler(app=self.asgi_router))
        try:
            otel: OpenTelemetryPlugin = self.plugins.get(OpenTelemetryPlugin)
        except KeyError:
            return handler  # tracing is off: nothing is exported, so no span is worth its cost
        wrapped: ASGIApp = otel.middleware(app=handler)
        return wrapped


def create_service_app(
    definition: ServiceDefinition, *, settings: PlatformSettings | None = None
) -> ServiceApp:
    route: ServiceRoute = service(definition.name)
    settings = settings or load_settings(definition.settings_class)
    configure_logging(f"{route.name}-service", level=settings.log_level, fmt=settings.log_format)
    configure_tracing(
        f"{route.name}-service",
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        traces_file=settings.otel_traces_file,
    )
    runs_workers = settings.run_mode in ("worker", "all") and bool(definition.workers)
    database = Database(
        settings.database_url,
        schema=route.schema,
        application_name=f"{route.name}-service",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # Without workers, no share of the asyncpg pool is kept for them.
        worker_connections=settings.db_worker_connections if runs_workers else 0,
        acquire_timeout=settings.db_acquire_timeout_seconds,
    )
    aws = AwsClients(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    readiness: dict[str, ReadinessCheck] = {"database": database.ping}
    if route.publishes or route.consumes:
        readiness["broker"] = _broker_check(aws, route, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        session = new_session(timeout_seconds=settings.http_timeout_seconds)
        clients = {
            other.name: ServiceClient(
                session, service=other.name, base_url=service_url(other.name), retries=settings.http_retries,
                budget_seconds=settings.http_timeout_seconds,
            )
            for other in SERVICES
        }
        app.state["http_session"] = session
        app.state["service_clients"] = clients
        factory = definition.key_set_factory or _jwks_key_set
        app.state["token_verifier"] = TokenVerifier(
            factory(settings, clients["user"]), issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        if route.name != TOKEN_ISSUER:
            # Admin power needs the account's current standing, not only the token's role claim
            # (auth.confirmed_admin). The issuer's own admin routes read its rows instead of calling itself.
            app.state["admin_standing"] = AdminStanding(
                user_service_lookup(clients[TOKEN_ISSUER]), ttl_seconds=settings.admin_standing_cache_seconds
            )
        workers: list[asyncio.Task[None]] = []
        try:
            if settings.run_migrations_on_start:
                await migrations.upgrade(database, definition.migrations_dir)
            for hook in definition.on_startup:
                await hook(app)
            if settings.run_mode in ("worker", "all"):
                workers = [asyncio.create_task(worker(app), name=worker.__name__) for worker in definition.workers]
            # Everything built so far (libraries, app, routes, pools) lives as long as the process:
            # keep it out of the cyclic GC, whose full collections would otherwise walk those
            # ~1M objects, a 50-130 ms pause of every request in flight, about once a second
            # under load (search p99 120 ms at p50 5 ms before; docs/benchmarks.md).
            gc.freeze()
            log.info("service started", port=settings.port or route.port, run_mode=settings.run_mode)
            yield
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await session.close()
            await database.close()
            shutdown_tracing()

    def provide_settings() -> PlatformSettings:
        return settings

    def provide_database() -> Database:
        return database

    def provide_aws() -> AwsClients:
        return aws

    sqlalchemy = SQLAlchemyPlugin(
        config=SQLAlchemyAsyncConfig(
            engine_instance=database.engine,
            session_config=AsyncSessionConfig(expire_on_commit=False),
            before_send_handler="autocommit",
            session_dependency_key="db_session",
            # Our problem-details handlers map repository errors; the plugin's own would leak SQL text.
            set_default_exception_handler=False,
        )
    )
    # The ASGI instrumentation costs ~40% of a cheap request's CPU (measured: bench ablation), so it
    # runs only where spans go somewhere: an OTLP collector, or the traces file tests read.
    tracing = bool(settings.otel_exporter_otlp_endpoint or settings.otel_traces_file)
    otel = OpenTelemetryPlugin(OpenTelemetryConfig(exclude=["/health", "/ready"], exclude_spans=["receive", "send"]))
    return ServiceApp(
        request_context=request_context_middleware_factory(service=route.name, log_requests=settings.access_log),
        route_handlers=[HealthController, *definition.route_handlers],
        dependencies={
            "principal": Provide(provide_principal),
            "optional_principal": Provide(provide_optional_principal),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "database": Provide(provide_database, sync_to_thread=False),
            "aws": Provide(provide_aws, sync_to_thread=False),
            **definition.dependencies,
        },
        plugins=[sqlalchemy, otel] if tracing else [sqlalchemy],
        exception_handlers=exception_handlers(),
        lifespan=[lifespan],
        state=_initial_state(readiness, database, aws, settings),
        openapi_config=OpenAPIConfig(
            title=f"{route.name.title()} service",
            version="1.0.0",
            description=definition.description,
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        request_max_body_size=settings.max_request_body_bytes,
        signature_namespace={
            "Database": Database,
            "AwsClients": AwsClients,
            "Principal": Principal,
            **definition.signature_namespace,
        },
        debug=False,
    )


def _initial_state(
    readiness: dict[str, ReadinessCheck], database: Database, aws: AwsClients, settings: PlatformSettings
) -> Any:
    from litestar.datastructures import State

    return State({"readiness_checks": readiness, "database": database, "aws": aws, "settings": settings})


def _broker_check(aws: AwsClients, route: ServiceRoute, settings: PlatformSettings) -> ReadinessCheck:
    """Ping the broker through the service's own first queue, else its own first topic."""

    async def check() -> None:
        if route.consumes:
            # Resolved here: a missing SQS_QUEUE_URL_PREFIX fails readiness, not the app's start.
            await aws.ping(queue_url=settings.queue_url(route.consumes[0]))
        else:
            await aws.ping(topic_arn=settings.topic_arn(route.publishes[0]))

    return check


def _jwks_key_set(settings: PlatformSettings, user_service: ServiceClient) -> KeySet:
    url = settings.resolved_jwks_url()

    async def fetch() -> dict[str, Any]:
        async with user_service.session.get(url) as resp:
            resp.raise_for_status()
            document: dict[str, Any] = msgspec.json.decode(await resp.read())
            return document

    return KeySet(fetch, cache_seconds=settings.jwks_cache_seconds)
