"""Create each service's schema and login role, owned by that role and by nothing else.

Run with an administrator connection: by the local launcher against the embedded Postgres or a
`DATABASE_URL` you supply, and by the deploy's bootstrap task in AWS. Idempotent. The administrator
need not be a superuser: CREATEROLE and owning the database are enough, as for RDS's master user.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from sqlalchemy.engine import make_url

from commerce_platform.database import asyncpg_dsn
from commerce_platform.routing import ServiceRoute

# Extensions some services rely on (fuzzy search); created once by the administrator.
EXTENSIONS = ("pg_trgm", "unaccent")
# PostgreSQL 16 added the SET and INHERIT options of role membership.
_PG16 = 160000


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def provision(admin_url: str, routes: Iterable[ServiceRoute], passwords: dict[str, str]) -> None:
    """Make sure every route's role and schema exist; the role may only use its own schema."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        database = await conn.fetchval("SELECT current_database()")
        server_version = int(await conn.fetchval("SHOW server_version_num"))
        superuser = await conn.fetchval("SHOW is_superuser") == "on"
        # No one gets implicit rights in `public`; each service lives only in its own schema.
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for ext in EXTENSIONS:
            await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext} WITH SCHEMA public")
        for route in routes:
            role, schema = _quote_ident(route.db_role), _quote_ident(route.schema)
            password = _quote_literal(passwords[route.name])
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", route.db_role)
            # Only a superuser may name the SUPERUSER attribute in ALTER ROLE, even to turn it off;
            # anyone else leaves it out (a role they may alter is never a superuser anyway).
            verb = "ALTER" if exists else "CREATE"
            no_superuser = "NOSUPERUSER " if superuser or not exists else ""
            await conn.execute(
                f"{verb} ROLE {role} WITH LOGIN PASSWORD {password} "
                f"{no_superuser}NOCREATEDB NOCREATEROLE NOINHERIT"
            )
            await conn.execute(_grant_set_role(role, server_version))
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
            await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
            await conn.execute(f"REVOKE ALL ON DATABASE {_quote_ident(database)} FROM {role}")
            await conn.execute(f"GRANT CONNECT ON DATABASE {_quote_ident(database)} TO {role}")
            # Extensions live in public; functions there are usable, tables there are not ours.
            await conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            await conn.execute(f"ALTER ROLE {role} SET search_path = {schema}, public")
    finally:
        await conn.close()


def _grant_set_role(role: str, server_version: int) -> str:
    """Let the administrator SET ROLE to `role`, which creating a schema owned by it requires.

    A superuser may anyway; RDS's master user is not one, and since PostgreSQL 16 a role's creator
    gets only ADMIN on it (createrole_self_grant is empty). INHERIT FALSE keeps the administrator
    from using the service's tables implicitly. Granting again only restates the options.
    """
    if server_version >= _PG16:
        return f"GRANT {role} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE"
    # Before 16 membership always allowed SET ROLE; a repeat grant is a notice, not an error.
    return f"GRANT {role} TO CURRENT_USER"


def service_database_url(admin_url: str, route: ServiceRoute, password: str) -> str:
    """The URL a service uses: same host and database as the admin URL, the service's own role."""
    url = make_url(admin_url).set(
        drivername="postgresql+asyncpg", username=route.db_role, password=password
    )
    return url.render_as_string(hide_password=False)
