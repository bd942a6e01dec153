"""Starts and stops the whole local stack: Postgres, the AWS endpoint, every service in the routing
table (one uvicorn process each) and the gateway. Used by `make dev` and by the test suite."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from commerce_platform.aws import AwsClients
from commerce_platform.database import asyncpg_dsn
from commerce_platform.db_provisioning import provision, service_database_url
from commerce_platform.devstack import forkserver
from commerce_platform.devstack.aws_emulator import ACCOUNT_ID, REGION, provision_topology, start_moto
from commerce_platform.devstack.postgres import DATABASE, EmbeddedPostgres
from commerce_platform.devstack.private_files import make_private_dir, write_private
from commerce_platform.devstack.processes import ManagedProcess, StackProcess, port_is_free
from commerce_platform.routing import GATEWAY_PORT, SERVICES, ServiceRoute

Progress = Callable[[str], None]
# The embedded Postgres and moto sit just below the gateway port, shifted by the same offset.
POSTGRES_PORT = 5432
AWS_PORT = 4566
STRIPE_PORT = 8420
SMTP_PORT = 1025
LOCAL_STRIPE_KEY = "sk_test_localstripe"


def uvicorn_argv(app_factory: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """A service's command line where it runs in a fresh interpreter (`forkserver.run_uvicorn` is its twin)."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", app_factory, "--host", host, "--port", str(port),
        "--no-access-log", "--timeout-graceful-shutdown", "5",
    ]


class StackError(RuntimeError):
    """The stack could not start; the message says which part and why."""


@dataclass
class StackConfig:
    data_dir: Path
    port_offset: int = 0
    # Tests use throwaway data and skip fsync; `make dev` keeps data between runs.
    durable: bool = True
    # Point at real infrastructure instead of starting local stand-ins.
    database_url: str | None = None
    aws_endpoint_url: str | None = None
    # A real Stripe test-mode key instead of the local emulator.
    stripe_secret_key: str | None = None
    admin_email: str = "admin@example.com"
    admin_password: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # `make dev` passes the OTEL_EXPORTER_* settings it was given on to the services; the test
    # suite's stack leaves them out, so its spans never reach a developer's collector.
    pass_otel_exporter: bool = False
    ready_timeout_seconds: float = 60.0


class Stack:
    def __init__(self, config: StackConfig, progress: Progress = print) -> None:
        self.config = config
        self.progress = progress
        self.data_dir = config.data_dir
        self.log_dir = config.data_dir / "logs"
        self.processes: list[StackProcess] = []
        self.postgres: EmbeddedPostgres | None = None
        self.admin_database_url = ""
        self.aws_endpoint_url = ""
        self.stripe_api_base = ""
        self.smtp_port = 0
        self.secrets: dict[str, str] = {}
        self._env: dict[str, str] = {}

    # -- addresses ---------------------------------------------------------------------------
    def port(self, route: ServiceRoute) -> int:
        return route.port + self.config.port_offset

    def service_url(self, name: str) -> str:
        route = next(r for r in SERVICES if r.name == name)
        return f"http://127.0.0.1:{self.port(route)}"

    @property
    def gateway_port(self) -> int:
        return GATEWAY_PORT + self.config.port_offset

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def admin_email(self) -> str:
        return self.config.admin_email

    @property
    def admin_password(self) -> str:
        return self.secrets["admin_password"]

    @property
    def jwt_private_key_path(self) -> Path:
        return self.data_dir / "jwt" / "private.pem"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        started = time.perf_counter()
        # Secrets, every email and every log live here: for the developer's eyes only.
        for folder in (self.data_dir, self.log_dir, self.maildir):
            make_private_dir(folder)
        self._load_secrets()
        self._ensure_jwt_key()
        self._check_ports()
        if forkserver.supported():
            forkserver.start_server()  # its imports overlap with Postgres and moto starting
        await self._start_postgres()
        await self._start_aws()
        await self._start_payment_and_mail_peers()
        await self._provision()
        env = self._service_env_base()
        self._env = env
        for route in SERVICES:
            await self._spawn_service(route, env)
        await self._spawn_gateway(env)
        await self._wait_until_ready()
        self.progress(f"stack ready in {time.perf_counter() - started:.1f}s")

    def stop_service(self, name: str) -> None:
        """Stop one service (tests use this to see how the others behave while it is down)."""
        process = next(p for p in self.processes if p.name == name)
        process.stop()
        self.processes.remove(process)

    async def start_service(self, name: str) -> None:
        """Start a stopped service again and wait until it is ready."""
        route = next(r for r in SERVICES if r.name == name)
        await self._spawn_service(route, self._env)
        await _wait_for_http(
            self.service_url(name) + "/ready", timeout=self.config.ready_timeout_seconds, process=self.processes[-1]
        )

    def stop(self) -> None:
        # Reverse order: gateway and services first, so nothing talks to a database that is gone.
        for process in reversed(self.processes):
            sig = signal.SIGINT if process.name == "postgres" else signal.SIGTERM
            process.stop(sig)
        self.processes.clear()

    # -- steps -------------------------------------------------------------------------------
    def _load_secrets(self) -> None:
        path = self.data_dir / "secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        for route in SERVICES:
            stored.setdefault(f"db_password_{route.name}", secrets.token_urlsafe(18))
        stored.setdefault("admin_password", secrets.token_urlsafe(12) + "-Aa1")
        # The payment service registers it with the Stripe emulator; tests sign their own events with it.
        stored.setdefault("stripe_webhook_secret", "whsec_" + secrets.token_urlsafe(24))
        if self.config.admin_password:
            stored["admin_password"] = self.config.admin_password
        write_private(path, json.dumps(stored, indent=2).encode())
        self.secrets = stored

    def _ensure_jwt_key(self) -> None:
        """The user service's signing key for local runs (in AWS it comes from Secrets Manager)."""
        path = self.jwt_private_key_path
        if path.exists():
            return
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        make_private_dir(path.parent)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private(path, pem)

    def _check_ports(self) -> None:
        wanted = {f"{r.name} service": self.port(r) for r in SERVICES}
        wanted["gateway"] = self.gateway_port
        if not self.config.database_url:
            wanted["postgres"] = POSTGRES_PORT + self.config.port_offset
        if not self.config.aws_endpoint_url:
            wanted["aws endpoint"] = AWS_PORT + self.config.port_offset
        if not self.config.stripe_secret_key:
            wanted["stripe emulator"] = STRIPE_PORT + self.config.port_offset
        wanted["smtp sink"] = SMTP_PORT + self.config.port_offset
        taken = [f"{name} ({port})" for name, port in wanted.items() if not port_is_free(port)]
        if taken:
            raise StackError(
                "port(s) already in use: " + ", ".join(taken)
                + ". Is another stack running? Stop it, or pick another --port-offset."
            )

    async def _start_postgres(self) -> None:
        if self.config.database_url:
            self.admin_database_url = self.config.database_url
            self.progress("postgres: using DATABASE_URL")
            await _wait_for_postgres(self.admin_database_url, timeout=10)
            return
        self.postgres = EmbeddedPostgres(
            self.data_dir / "postgres", POSTGRES_PORT + self.config.port_offset, durable=self.config.durable
        )
        self.progress(f"postgres: starting embedded PostgreSQL on 127.0.0.1:{self.postgres.port}")
        await asyncio.to_thread(self.postgres.initialise)
        self.processes.append(self.postgres.start())
        server_url = self.postgres.admin_url.rsplit("/", 1)[0] + "/postgres"
        try:
            await _wait_for_postgres(server_url, timeout=20, process=self.processes[-1])
        except StackError:
            raise StackError("postgres did not start:\n" + self.processes[-1].log_tail()) from None
        conn = await asyncpg.connect(asyncpg_dsn(server_url))
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()
        self.admin_database_url = self.postgres.admin_url

    async def _start_aws(self) -> None:
        if self.config.aws_endpoint_url:
            self.aws_endpoint_url = self.config.aws_endpoint_url
            self.progress(f"aws: using AWS_ENDPOINT_URL {self.aws_endpoint_url}")
            return
        port = AWS_PORT + self.config.port_offset
        self.progress(f"aws: starting moto (SNS, SQS, SES) on 127.0.0.1:{port}")
        process = start_moto(port, self.log_dir)
        self.processes.append(process)
        self.aws_endpoint_url = f"http://127.0.0.1:{port}"
        await _wait_for_http(self.aws_endpoint_url + "/moto-api/", timeout=20, process=process)

    @property
    def maildir(self) -> Path:
        """Where the local SMTP sink keeps every message it receives, one .eml file each."""
        return self.data_dir / "mail"

    async def _start_payment_and_mail_peers(self) -> None:
        stripe_port = STRIPE_PORT + self.config.port_offset
        smtp_port = SMTP_PORT + self.config.port_offset
        self.stripe_api_base = ""
        waits = []
        if not self.config.stripe_secret_key:
            stripe = ManagedProcess(
                "stripe",
                [sys.executable, "-m", "commerce_platform.devstack.stripe_emulator", "--port", str(stripe_port)],
                log_path=self.log_dir / "stripe.log",
            )
            stripe.start()
            self.processes.append(stripe)
            self.stripe_api_base = f"http://127.0.0.1:{stripe_port}"
            waits.append(_wait_for_port(stripe_port, timeout=20, process=stripe))
        mail = ManagedProcess(
            "mail",
            [sys.executable, "-m", "commerce_platform.devstack.mail_sink", "--port", str(smtp_port),
             "--maildir", str(self.maildir)],
            log_path=self.log_dir / "mail.log",
        )
        mail.start()
        self.processes.append(mail)
        self.smtp_port = smtp_port
        waits.append(_wait_for_port(smtp_port, timeout=20, process=mail))
        await asyncio.gather(*waits)
        stripe_where = self.stripe_api_base or "real Stripe (test mode)"
        self.progress(f"stripe: {stripe_where}; smtp sink: 127.0.0.1:{smtp_port} -> {self.maildir}")

    async def _provision(self) -> None:
        passwords = {r.name: self.secrets[f"db_password_{r.name}"] for r in SERVICES}
        await provision(self.admin_database_url, SERVICES, passwords)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        await provision_topology(AwsClients(region=REGION, endpoint_url=self.aws_endpoint_url))
        self.progress("provisioned: a schema and role per service; topics, queues and dead-letter queues")

    def _service_env_base(self) -> dict[str, str]:
        dropped = ("DATABASE_URL",) if self.config.pass_otel_exporter else ("DATABASE_URL", "OTEL_EXPORTER")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        env.update(
            {
                "ENVIRONMENT": "local",
                "AWS_ENDPOINT_URL": self.aws_endpoint_url,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                "SNS_TOPIC_ARN_PREFIX": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:",
                "SQS_QUEUE_URL_PREFIX": f"{self.aws_endpoint_url}/{ACCOUNT_ID}/",
                "RUN_MIGRATIONS_ON_START": "true",
                "DB_POOL_SIZE": "5",
                "DB_MAX_OVERFLOW": "5",
                "PYTHONUNBUFFERED": "1",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(self.smtp_port),
                "STRIPE_SECRET_KEY": self.config.stripe_secret_key or LOCAL_STRIPE_KEY,
            }
        )
        if self.stripe_api_base:
            env["STRIPE_API_BASE"] = self.stripe_api_base
            env["STRIPE_WEBHOOK_SECRET"] = self.secrets["stripe_webhook_secret"]
        for route in SERVICES:
            env[route.url_env_var] = self.service_url(route.name)
        env.update(self.config.extra_env)
        return env

    def _service_env(self, route: ServiceRoute, base_env: Mapping[str, str]) -> dict[str, str]:
        """One service's environment: the shared one plus its port, database role and keys."""
        env = dict(base_env)
        env["PORT"] = str(self.port(route))
        env["DATABASE_URL"] = service_database_url(
            self.admin_database_url, route, self.secrets[f"db_password_{route.name}"]
        )
        if route.name == "user":
            env.setdefault("JWT_PRIVATE_KEY_FILE", str(self.jwt_private_key_path))
            env.setdefault("BOOTSTRAP_ADMIN_EMAIL", self.config.admin_email)
            env.setdefault("BOOTSTRAP_ADMIN_PASSWORD", self.admin_password)
        return env

    async def _spawn_service(self, route: ServiceRoute, base_env: Mapping[str, str]) -> None:
        host, port = "127.0.0.1", self.port(route)
        await self._spawn(
            route.name, "commerce_platform.devstack.forkserver:run_uvicorn", (route.app_factory, host, port),
            uvicorn_argv(route.app_factory, port, host), self._service_env(route, base_env),
        )

    async def _spawn_gateway(self, base_env: Mapping[str, str]) -> None:
        argv = [sys.executable, "-m", "commerce_platform.devstack.gateway", "--port", str(self.gateway_port)]
        await self._spawn(
            "gateway", "commerce_platform.devstack.gateway:run", ("127.0.0.1", self.gateway_port), argv, base_env
        )

    async def _spawn(
        self, name: str, target: str, args: tuple[object, ...], argv: list[str], env: Mapping[str, str]
    ) -> None:
        """Fork `target(*args)` from the preloaded fork server where there is one, else run `argv`."""
        log_path = self.log_dir / f"{name}.log"
        process: StackProcess
        if forkserver.supported():
            forked = forkserver.ForkedProcess(name, target, args, log_path=log_path, env=env)
            # The first start waits for the fork server's imports: keep the event loop free meanwhile.
            await asyncio.to_thread(forked.start)
            process = forked
        else:
            managed = ManagedProcess(name, argv, log_path=log_path, env=env)
            managed.start()
            process = managed
        self.processes.append(process)

    async def _wait_until_ready(self) -> None:
        targets = {route.name: self.service_url(route.name) + "/ready" for route in SERVICES}
        targets["gateway"] = self.gateway_url + "/_gateway/health"
        by_name = {p.name: p for p in self.processes}

        async def wait(name: str, url: str) -> None:
            await _wait_for_http(url, timeout=self.config.ready_timeout_seconds, process=by_name[name])
            self.progress(f"  ready: {name}")

        results = await asyncio.gather(*(wait(n, u) for n, u in targets.items()), return_exceptions=True)
        failures = [(name, r) for name, r in zip(targets, results, strict=True) if isinstance(r, Exception)]
        if failures:
            lines = []
            for name, error in failures:
                lines.append(f"{name}: {error}\n--- last lines of {by_name[name].log_path} ---\n"
                             f"{by_name[name].log_tail()}")
            raise StackError("some processes did not become ready:\n" + "\n".join(lines))


async def _wait_for_postgres(url: str, *, timeout: float, process: StackProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(url), timeout=2)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if process is not None and not process.running:
                raise StackError("postgres exited during start") from exc
            if time.monotonic() > deadline:
                raise StackError(f"postgres not reachable at {url.split('@')[-1]}: {exc}") from exc
            await asyncio.sleep(0.1)


async def _wait_for_port(port: int, *, timeout: float, process: StackProcess) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not process.running:
            raise StackError(f"{process.name} exited during start:\n{process.log_tail()}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise StackError(f"{process.name} not listening on {port} after {timeout:.0f}s") from None
            await asyncio.sleep(0.1)


async def _wait_for_http(url: str, *, timeout: float, process: StackProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if process is not None and not process.running:
                raise StackError(f"process exited (code {process.returncode})")
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}: {(await resp.text())[:200]}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                raise StackError(f"{url} not ready after {timeout:.0f}s ({last})")
            await asyncio.sleep(0.1)
