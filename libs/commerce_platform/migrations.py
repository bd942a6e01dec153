"""Alembic migrations per service, with the version table inside the service's own schema.

Each service keeps `migrations/` next to its code with a two-line `env.py` that calls `run_env()`.
`upgrade()` runs at start in local mode; in AWS the same code runs as a one-off task
(`python -m commerce_platform.migrate <service>`) before a rollout.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from commerce_platform.database import Database


def alembic_config(migrations_dir: Path, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["schema"] = schema
    return cfg


def _advisory_key(schema: str) -> int:
    # Stable across processes and replicas, so two replicas starting together migrate one at a time.
    return zlib.crc32(f"migrate:{schema}".encode())


async def upgrade(database: Database, migrations_dir: Path) -> None:
    """Bring the service schema to the newest revision, serialised by an advisory lock."""
    cfg = alembic_config(migrations_dir, database.schema)
    async with database.engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(database.schema)})
        await conn.run_sync(_upgrade_sync, cfg)


def _upgrade_sync(connection: Connection, cfg: Config) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def run_env() -> None:
    """Body of every service's `migrations/env.py` (online mode only: we always hold a connection)."""
    config = context.config
    connection: Connection = config.attributes["connection"]
    schema: str = config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=schema,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
