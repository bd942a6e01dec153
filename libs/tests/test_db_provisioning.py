"""Provisioning as an administrator who is not a superuser, like RDS's master user: CREATEROLE and
CREATEDB, owner of the database. PostgreSQL 16+ then needs an explicit grant before the schemas."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from commerce_platform.database import asyncpg_dsn
from commerce_platform.db_provisioning import provision, service_database_url
from commerce_platform.routing import SERVICES, ServiceRoute

pytestmark = pytest.mark.stack


@dataclasses.dataclass(frozen=True)
class RdsLikeDatabase:
    admin_url: str
    admin_role: str
    routes: tuple[ServiceRoute, ...]
    passwords: dict[str, str]


@pytest.fixture
async def rds_like(stack: Any) -> AsyncIterator[RdsLikeDatabase]:
    """A fresh database owned by a NOSUPERUSER CREATEROLE CREATEDB role; dropped afterwards."""
    suffix = uuid4().hex[:10]
    admin_role, database = f"rds_master_{suffix}", f"rds_like_{suffix}"
    password = secrets.token_urlsafe(16)
    # Role names are cluster-wide: give the services' roles a suffix, keep their real schemas.
    routes = tuple(dataclasses.replace(r, name=f"{r.name}_{suffix}") for r in SERVICES[:2])
    superuser = await asyncpg.connect(asyncpg_dsn(stack.admin_database_url))
    try:
        await superuser.execute(f"CREATE ROLE {admin_role} LOGIN PASSWORD '{password}' NOSUPERUSER CREATEROLE CREATEDB")
        await superuser.execute(f"CREATE DATABASE {database} OWNER {admin_role}")
        admin_url = make_url(stack.admin_database_url).set(username=admin_role, password=password, database=database)
        yield RdsLikeDatabase(
            admin_url=admin_url.render_as_string(hide_password=False),
            admin_role=admin_role,
            routes=routes,
            passwords={r.name: secrets.token_urlsafe(16) for r in routes},
        )
    finally:
        await superuser.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        for route in routes:
            await superuser.execute(f"DROP ROLE IF EXISTS {route.db_role}")
        await superuser.execute(f"DROP ROLE IF EXISTS {admin_role}")
        await superuser.close()


async def test_a_non_superuser_admin_provisions_every_schema_twice(rds_like: RdsLikeDatabase) -> None:
    await provision(rds_like.admin_url, rds_like.routes, rds_like.passwords)
    await provision(rds_like.admin_url, rds_like.routes, rds_like.passwords)  # a redeploy

    admin = await asyncpg.connect(asyncpg_dsn(rds_like.admin_url))
    try:
        assert not await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        for route in rds_like.routes:
            owner = await admin.fetchval(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", route.schema
            )
            assert owner == route.db_role
            # The admin may become the role but does not hold its rights implicitly (INHERIT FALSE).
            assert await admin.fetchval("SELECT pg_has_role(current_user, $1, 'SET')", route.db_role)
            assert not await admin.fetchval("SELECT pg_has_role(current_user, $1, 'USAGE')", route.db_role)
    finally:
        await admin.close()

    route = rds_like.routes[0]
    url = service_database_url(rds_like.admin_url, route, rds_like.passwords[route.name])
    service = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await service.execute("CREATE TABLE provisioned_here (id int)")  # lands in its own schema
        assert await service.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{route.schema}.provisioned_here")
    finally:
        await service.close()
