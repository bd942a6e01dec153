"""The image's install and start commands, run outside Docker (no engine here): for every service
a fresh venv with only that service's locked dependencies, then docker/start.sh as the container
runs it. Each service must answer /health although its database is unreachable, and the image's
own health probe must agree.

All services start at once and are checked together: importing a service costs a few CPU-seconds,
so this keeps the wall time near one service's start rather than the sum.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from commerce_platform.routing import SERVICES, ServiceRoute

# Generous for a loaded CI machine; an idle one answers within a few seconds.
START_TIMEOUT = 180.0


def image_sync_command(route: ServiceRoute) -> list[str]:
    """The Dockerfile's install step for one service, from the same lock file.

    The image adds --no-editable (and rebuilds the workspace wheels) so its venv needs no source
    tree; here an editable install of the same locked set is equivalent, never stale, and skips
    two wheel builds per service.
    """
    return ["uv", "sync", "--frozen", "--no-dev", "--package", route.package]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Launch:
    route: ServiceRoute
    python: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]
    health_status: int | None = None
    probe_returncode: int | None = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


# With these set the user service creates its admin during startup, which needs the database;
# this test is about starting without one, so they stay out.
NEEDS_DATABASE_AT_START = ("BOOTSTRAP_ADMIN_",)


def _env_file(path: Path) -> dict[str, str]:
    """docker/env/<service>.env, the per-service extras compose loads (e.g. payment's Stripe key)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs if not k.strip().startswith(NEEDS_DATABASE_AT_START)}


def _install(repo: Path, route: ServiceRoute, venv: Path) -> None:
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([*image_sync_command(route), "--quiet"], cwd=repo, env=env, check=True, timeout=300)


def _launch(repo: Path, route: ServiceRoute, workdir: Path, dead_db_port: int) -> Launch:
    venv = workdir / "venv"
    _install(repo, route, venv)
    python = venv / "bin" / "python"
    # The image's build step records the routing-table facts (and fails for unknown services).
    service_env = workdir / "service.env"
    recorded = subprocess.run(
        [str(python), "docker/service_env.py", route.name], cwd=repo, check=True, capture_output=True, text=True
    )
    service_env.write_text(recorded.stdout)
    env = {
        # Per-service extras compose passes too (e.g. payment's Stripe key), then the contract.
        **_env_file(repo / "docker" / "env" / f"{route.name}.env"),
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(workdir),
        "SERVICE_ENV_FILE": str(service_env),
        "PORT": str(_free_port()),
        "DATABASE_URL": f"postgresql+asyncpg://{route.db_role}:x@127.0.0.1:{dead_db_port}/commerce",
        "RUN_MIGRATIONS_ON_START": "false",
        "LOG_LEVEL": "WARNING",
    }
    log = workdir / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["sh", "docker/start.sh"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Launch(route=route, python=python, env=env, log=log, proc=proc)


def _poll(launch: Launch) -> bool:
    """True once the launch has an outcome (answered, or exited)."""
    if launch.proc.poll() is not None:
        return True
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{launch.env['PORT']}/health", timeout=1) as response:
            launch.health_status = int(response.status)
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def launches(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Launch]]:
    with socket.socket() as dead_db:
        # Bound but never listening: connections are refused at once, like a database that is down.
        dead_db.bind(("127.0.0.1", 0))
        dead_db_port = int(dead_db.getsockname()[1])
        started: dict[str, Launch] = {}
        try:
            for route in SERVICES:
                started[route.name] = _launch(repo, route, tmp_path_factory.mktemp(route.name), dead_db_port)
            pending = set(started)
            deadline = time.monotonic() + START_TIMEOUT
            while pending and time.monotonic() < deadline:
                pending -= {name for name in pending if _poll(started[name])}
                time.sleep(0.2)
            for launch in started.values():
                if launch.health_status is not None:
                    probe = subprocess.run(
                        [str(launch.python), "docker/healthcheck.py"], cwd=repo, env=launch.env, timeout=10
                    )
                    launch.probe_returncode = probe.returncode
            yield started
        finally:
            for launch in started.values():
                launch.proc.terminate()
            for launch in started.values():
                try:
                    launch.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    launch.proc.kill()


@pytest.mark.parametrize("route", SERVICES, ids=lambda r: r.name)
def test_image_commands_start_the_service(launches: dict[str, Launch], route: ServiceRoute) -> None:
    launch = launches[route.name]
    assert f"DEFAULT_PORT={route.port}" in Path(launch.env["SERVICE_ENV_FILE"]).read_text().splitlines()
    assert launch.health_status == 200, f"/health did not answer 200\n--- log ---\n{launch.log_tail()}"
    assert launch.probe_returncode == 0, "docker/healthcheck.py disagreed with /health"


def test_healthcheck_reports_a_dead_service(repo: Path, tmp_path: Path) -> None:
    service_env = tmp_path / "service.env"
    service_env.write_text(f"DEFAULT_PORT={_free_port()}\n")
    env = {**os.environ, "SERVICE_ENV_FILE": str(service_env)}
    env.pop("PORT", None)
    result = subprocess.run([sys.executable, "docker/healthcheck.py"], cwd=repo, env=env, timeout=10)
    assert result.returncode == 1


def test_service_env_rejects_an_unknown_service(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "docker/service_env.py", "no-such-service"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "routing table" in result.stderr
