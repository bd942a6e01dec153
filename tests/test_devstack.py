"""`make dev`'s launcher: starts everything, says what is where, and Ctrl-C leaves no process behind."""

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from commerce_platform.devstack.__main__ import stack_config
from commerce_platform.devstack.launcher import POSTGRES_PORT, Stack, StackConfig, StackError
from commerce_platform.devstack.postgres import EmbeddedPostgres
from commerce_platform.devstack.private_files import make_private_dir
from commerce_platform.devstack.processes import port_is_free
from commerce_platform.routing import SERVICES


def _descendants(pid: int) -> set[int]:
    """All live descendants of `pid`, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _free_offset() -> int:
    # Below the ephemeral port range (32768+), and away from the session stack's blocks.
    for offset in range(1000, 9500, 500):
        if all(port_is_free(p + offset) for p in [8080, 5432, 4566, 8420, 1025, *(r.port for r in SERVICES)]):
            return offset
    raise RuntimeError("no free ports")


async def test_port_in_use_is_reported_by_name(tmp_path: Path) -> None:
    offset = _free_offset()
    user_port = next(r.port for r in SERVICES if r.name == "user") + offset
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", user_port))
        blocker.listen()
        stack = Stack(StackConfig(data_dir=tmp_path, port_offset=offset), progress=lambda _m: None)
        with pytest.raises(StackError, match=rf"user service \({user_port}\)"):
            await stack.start()
        stack.stop()


def _start_launcher(tmp_path: Path, offset: int) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m commerce_platform.devstack` in the background, its output in a file; waits until up."""
    log = tmp_path / "launcher.out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("AWS_ENDPOINT_URL", None)
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "commerce_platform.devstack", "--data-dir", str(tmp_path / "data"),
             "--port-offset", str(offset)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    deadline = time.monotonic() + 90
    while "stack is up" not in log.read_text():
        assert launcher.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return launcher, log


def _all_gone(pids: set[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# As root, postgres runs as its own user, which must be able to pass through the data dir (x only).
DATA_DIR_MODE = 0o711 if os.geteuid() == 0 else 0o700


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_launcher_starts_everything_and_ctrl_c_stops_it_all(tmp_path: Path, sig: int) -> None:
    offset = _free_offset()
    launcher, log = _start_launcher(tmp_path, offset)
    try:
        text = log.read_text()
        assert f"http://127.0.0.1:{8080 + offset}" in text
        for route in SERVICES:
            assert f"{route.name}" in text and f"http://127.0.0.1:{route.port + offset}/schema" in text
        assert "admin login" in text
        started = _descendants(launcher.pid)
        # postgres, moto, the gateway and one process per service at least
        assert len(started) >= len(SERVICES) + 3
        data = tmp_path / "data"
        assert _mode(data) == DATA_DIR_MODE
        for secret in ("secrets.json", "jwt/private.pem", "postgres/superuser-password"):
            assert _mode(data / secret) == 0o600, secret
        launcher.send_signal(sig)
        assert launcher.wait(30) == 0, log.read_text()
        assert _all_gone(started, 10) == []
        for route in SERVICES:
            assert port_is_free(route.port + offset)
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_a_killed_launcher_takes_every_process_with_it(tmp_path: Path) -> None:
    """kill -9 gives the launcher no chance to stop anything: the kernel's parent-death signal does,
    through the fork server the services were forked from (which exits when the launcher is gone)."""
    offset = _free_offset()
    launcher, _log = _start_launcher(tmp_path, offset)
    loop = asyncio.new_event_loop()
    client: asyncpg.Connection | None = None
    try:
        started = _descendants(launcher.pid)
        assert len(started) >= len(SERVICES) + 3
        # A developer's psql or IDE stays connected: Postgres must not wait for it to leave.
        postgres = EmbeddedPostgres(tmp_path / "data" / "postgres", POSTGRES_PORT + offset)
        client = loop.run_until_complete(asyncpg.connect(postgres.admin_url))
        assert loop.run_until_complete(client.fetchval("SELECT 1")) == 1
        launcher.kill()
        launcher.wait(10)
        assert _all_gone(started, 30) == []
        assert port_is_free(POSTGRES_PORT + offset)
        for route in SERVICES:
            assert port_is_free(route.port + offset)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        if client is not None:
            loop.run_until_complete(client.close(timeout=2))
        loop.close()


def test_secrets_are_private_from_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No chmod after the write: the files must never have been readable by others, even briefly."""
    monkeypatch.setattr(Path, "chmod", lambda *_args, **_kwargs: None)
    previous = os.umask(0o022)
    try:
        stack = Stack(StackConfig(data_dir=tmp_path / "local"), progress=lambda _m: None)
        make_private_dir(stack.data_dir)
        stack._load_secrets()
        stack._ensure_jwt_key()
        postgres = EmbeddedPostgres(tmp_path / "local" / "postgres", 5432)
        (postgres.pgdata).mkdir(parents=True)
        (postgres.pgdata / "PG_VERSION").write_text("18")  # initdb is not what is tested here
        postgres.initialise()
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "local" / "secrets.json") == 0o600
    assert _mode(stack.jwt_private_key_path) == 0o600
    assert _mode(tmp_path / "local" / "postgres" / "superuser-password") == 0o600


def test_make_dev_passes_otel_exporter_settings_to_the_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=shop")
    env = Stack(stack_config(["--data-dir", str(tmp_path)]))._service_env_base()
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "x-team=shop"
    # The test suite's stack keeps its spans off a developer's collector.
    env = Stack(StackConfig(data_dir=tmp_path))._service_env_base()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env
