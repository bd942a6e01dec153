"""The hand-written migration against the models, and the housekeeping purge, on the stack's database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from commerce_platform.database import Database
from user_service.housekeeping import purge_expired
from user_service.models import User

pytestmark = pytest.mark.stack


@pytest.fixture
async def users_schema(stack: Any) -> AsyncIterator[Database]:
    """The `users` schema through the administrator's connection (tests only: services never do this)."""
    database = Database(stack.admin_database_url, schema="users", application_name="user-service-tests")
    yield database
    await database.close()


async def test_migration_creates_what_the_models_describe(users_schema: Database) -> None:
    # The model registry is shared by every service imported into this test process: compare only
    # the user service's own tables.
    ours = {m.local_table.name for m in User.registry.mappers if m.class_.__module__.startswith("user_service.")}

    def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if kind == "table" else getattr(obj, "table", None)
        return table is None or table.name in ours

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include})
        return [d for d in compare_metadata(context, User.metadata) if "alembic_version" not in str(d)]

    async with users_schema.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_purge_drops_closed_throttle_windows_and_long_expired_tokens(users_schema: Database) -> None:
    stale, fresh = f"email:stale-{uuid.uuid4().hex}", f"email:fresh-{uuid.uuid4().hex}"
    async with users_schema.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO login_throttle (key, window_started_at, failures) VALUES "
                "(:stale, now() - interval '2 hours', 9), (:fresh, now(), 1)"
            ),
            {"stale": stale, "fresh": fresh},
        )
    await purge_expired(users_schema, window_seconds=900)
    rows = await users_schema.fetch("SELECT key FROM login_throttle WHERE key = ANY($1)", [stale, fresh])
    assert [r["key"] for r in rows] == [fresh]
    left = await users_schema.fetch("SELECT 1 FROM refresh_token WHERE expires_at < now() - interval '1 day'")
    assert left == []
