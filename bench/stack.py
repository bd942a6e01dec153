"""Starting only what a benchmark needs: part of the dev stack (via the launcher) and bare apps as uvicorn processes."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import REPO_ROOT
from commerce_platform.database import asyncpg_dsn
from commerce_platform.db_provisioning import provision
from commerce_platform.devstack import launcher
from commerce_platform.devstack.launcher import Stack, StackConfig, uvicorn_argv
from commerce_platform.devstack.processes import ManagedProcess, StackProcess, free_port
from commerce_platform.routing import service

Progress = Callable[[str], None]


def free_port_offset(start: int = 41000, stop: int = 57000, step: int = 500) -> int:
    """A port offset at which every port the launcher would check is free (asked of the launcher's own
    `_check_ports`, so ports it adds later count too), clear of the test suite's 20000-40000 blocks."""
    for offset in range(start, stop, step):
        probe = Stack(StackConfig(data_dir=Path("/nonexistent"), port_offset=offset), progress=lambda _: None)
        try:
            probe._check_ports()
        except launcher.StackError:
            continue
        return offset
    raise RuntimeError("no free block of ports for the benchmark stack")


async def wait_ready(url: str, process: ManagedProcess, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; fail early, with the log tail, if the process exits."""
    try:
        await launcher._wait_for_http(url, timeout=timeout, process=process)
    except launcher.StackError as exc:
        raise launcher.StackError(f"{process.name}: {exc}\n--- {process.log_path} ---\n{process.log_tail()}") from None


@dataclass
class App:
    """A bare app under uvicorn, one worker, started by the harness."""

    name: str
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid


def start_app(name: str, factory: str, log_dir: Path, env: Mapping[str, str] | None = None,
              port: int | None = None) -> App:
    import os

    port = port or free_port()
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = ManagedProcess(name, uvicorn_argv(factory, port), log_path=log_dir / f"{name}.log", env=full_env,
                             cwd=REPO_ROOT)
    process.start()
    return App(name, process, port)


class PartialStack(Stack):
    """The dev stack's launcher, asked for a subset: embedded Postgres, the named services and optionally
    the gateway; no AWS endpoint (services that need one would not become ready).

    It reuses the launcher's own steps (secrets, signing key, Postgres, service environment and
    command line), so a service runs here exactly as under `make dev`."""

    def __init__(self, config: StackConfig, services: Sequence[str], *, gateway: bool, progress: Progress) -> None:
        super().__init__(config, progress=progress)
        self.routes = [service(name) for name in services]
        self.with_gateway = gateway

    @property
    def admin_dsn(self) -> str:
        return asyncpg_dsn(self.admin_database_url)

    def process(self, name: str) -> StackProcess:
        return next(p for p in self.processes if p.name == name)

    def pid(self, name: str) -> int:
        pid = self.process(name).pid
        assert pid is not None
        return pid

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._load_secrets()
        self._ensure_jwt_key()
        self._check_ports()
        await self._start_postgres()
        passwords = {r.name: self.secrets[f"db_password_{r.name}"] for r in self.routes}
        await provision(self.admin_database_url, self.routes, passwords)
        env = self._service_env_base()
        self._env = env  # as the launcher's own start() keeps it
        for route in self.routes:
            await self._spawn_service(route, env)
        if self.with_gateway:
            await self._spawn_gateway(env)
        for route in self.routes:
            await wait_ready(self.service_url(route.name) + "/ready", self.process(route.name),
                             self.config.ready_timeout_seconds)
            self.progress(f"ready: {route.name} service")
        if self.with_gateway:
            await wait_ready(self.gateway_url + "/_gateway/health", self.process("gateway"))
            self.progress("ready: gateway")

    def service_env(self, service_name: str) -> dict[str, str]:
        """The environment the launcher's `_spawn_service` gives that service (database role, keys, ...),
        for running its app some other way (in-process CPU measurements)."""
        return self._service_env(service(service_name), self._service_env_base())

    def spawn_gateway_variant(self, label: str, code: str) -> str:
        """Another gateway process, started by `python -c CODE --port N` with the launcher's gateway
        environment (`_spawn_gateway`'s), on a free port. Returns its base URL."""
        port = free_port()
        argv = [sys.executable, "-c", code, "--port", str(port)]
        process = ManagedProcess(label, argv, log_path=self.log_dir / f"{label}.log", env=self._service_env_base(),
                                 cwd=REPO_ROOT)
        process.start()
        self.processes.append(process)
        return f"http://127.0.0.1:{port}"

    async def spawn_variant(self, label: str, service_name: str, factory: str, extra_env: Mapping[str, str]) -> str:
        """One more process of a service, from another app factory and/or environment, on a free port,
        started by the launcher's own `_spawn_service` (same environment, flags and database role).
        Returns its base URL; wait for `/ready` before use."""
        route = service(service_name)
        port = free_port()
        variant = dataclasses.replace(route, app_factory=factory, port=port - self.config.port_offset)
        env = {**self._service_env_base(), **extra_env}
        log_dir = self.log_dir
        self.log_dir = log_dir / label  # its own log file
        try:
            await self._spawn_service(variant, env)
        finally:
            self.log_dir = log_dir
        self.processes[-1].name = label
        return f"http://127.0.0.1:{port}"
