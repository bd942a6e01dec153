"""Services of the local stack start as forks of one preloaded interpreter.

Every service imports the same libraries (Litestar, advanced-alchemy with SQLAlchemy and Alembic,
aioboto3, OpenTelemetry, uvicorn): about 2.5 CPU-seconds and most of a service's memory. Eight fresh
interpreters paid that eight times, which was most of `make dev`'s start on two cores. The standard
library's fork server imports them once; each service is still its own process, on its own port,
with its own environment and log file, as in production. Forked children share the imported code's
pages with the server, so the stack also uses less memory.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

from commerce_platform.devstack.processes import die_with_parent, log_tail
from commerce_platform.routing import SERVICES

# Imported once by the fork server; what a service imports beyond these costs ~0.05 CPU-seconds.
PRELOAD: tuple[str, ...] = (
    "commerce_platform.service_app",
    "commerce_platform.migrations",
    "commerce_platform.events.relay",
    "commerce_platform.events.consumer",
    "commerce_platform.devstack.gateway",
    "alembic.command",
    "aioboto3",
    "uvicorn",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    *(route.app_factory.split(":", 1)[0] for route in SERVICES),
)


@dataclass(frozen=True)
class ChildSpec:
    """What one forked child runs: `target` is "module:function", called with `args`."""

    name: str
    target: str
    args: tuple[Any, ...]
    env: Mapping[str, str]
    log_path: str


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    return context


def supported() -> bool:
    """Fork servers exist on POSIX; macOS works too, but Linux is where `fork` is cheap and safe."""
    return sys.platform.startswith("linux")


def start_server() -> None:
    """Start the fork server now, so its imports overlap with Postgres and moto starting."""
    context = _context()
    context.set_forkserver_preload(list(PRELOAD))
    from multiprocessing import forkserver

    forkserver.ensure_running()


def run_child(spec: ChildSpec) -> None:
    """Runs in the forked child: become a session leader with its own log and environment, then run."""
    os.setsid()  # its own process group, so stopping it stops whatever it starts
    _let_server_exit_without_us()
    die_with_parent()  # the fork server dies with the launcher
    log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.close(null_fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own stdout
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(spec.env)
    module_name, function_name = spec.target.split(":", 1)
    function: Callable[..., None] = getattr(importlib.import_module(module_name), function_name)
    function(*spec.args)


def _let_server_exit_without_us() -> None:
    """The fork server exits when every holder of its "alive" pipe is gone; children inherit one end.
    Dropping ours lets it exit when the launcher dies, and our PDEATHSIG then stops us too."""
    from multiprocessing import forkserver

    server: Any = getattr(forkserver, "_forkserver", None)
    alive_fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive_fd, int):
        with contextlib.suppress(OSError):
            os.close(alive_fd)
        server._forkserver_alive_fd = None


def run_uvicorn(app_factory: str, host: str, port: int) -> None:
    """A service, exactly as `uvicorn --factory APP --host H --port P` would run it."""
    import uvicorn

    uvicorn.run(
        app_factory, factory=True, host=host, port=port, access_log=False, timeout_graceful_shutdown=5
    )


class ForkedProcess:
    """A child of the fork server, with the same face as `ManagedProcess` for the launcher."""

    def __init__(self, name: str, target: str, args: tuple[Any, ...], *, log_path: Path,
                 env: Mapping[str, str]) -> None:
        self.name = name
        self.log_path = log_path
        self._spec = ChildSpec(name, target, args, dict(env), str(log_path))
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start_server()
        self._process = _context().Process(target=run_child, args=(self._spec,), name=self.name, daemon=False)
        self._process.start()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        process = self._process
        if process is None or process.pid is None:
            return
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            process.join(timeout)
            if process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.join(5)

    def log_tail(self, lines: int = 25) -> str:
        return log_tail(self.log_path, lines)
