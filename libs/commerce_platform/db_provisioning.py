"""Create each service's schema and login role, owned by that role and by nothing else.

Run with an administrator connection: by the local launcher against the embedded Postgres or a
`DATABASE_URL` you supply, and by the deploy's bootstrap task in AWS. Idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from sqlalchemy.engine import make_url

from commerce_platform.database import asyncpg_dsn
from commerce_platform.routing import ServiceRoute

# Extensions some services rely on (fuzzy search); created once by the administrator.
EXTENSIONS = ("pg_trgm", "unaccent")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def provision(admin_url: str, routes: Iterable[ServiceRoute], passwords: dict[str, str]) -> None:
    """Make sure every route's role and schema exist; the role may only use its own schema."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        database = await conn.fetchval("SELECT current_database()")
        # No one gets implicit rights in `public`; each service lives only in its own schema.
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for ext in EXTENSIONS:
            await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext} WITH SCHEMA public")
        for route in routes:
            role, schema = _quote_ident(route.db_role), _quote_ident(route.schema)
            password = _quote_literal(passwords[route.name])
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", route.db_role)
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(
                f"{verb} ROLE {role} WITH LOGIN PASSWORD {password} "
                "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
            )
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
            await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
            await conn.execute(f"REVOKE ALL ON DATABASE {_quote_ident(database)} FROM {role}")
            await conn.execute(f"GRANT CONNECT ON DATABASE {_quote_ident(database)} TO {role}")
            # Extensions live in public; functions there are usable, tables there are not ours.
            await conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            await conn.execute(f"ALTER ROLE {role} SET search_path = {schema}, public")
    finally:
        await conn.close()


def service_database_url(admin_url: str, route: ServiceRoute, password: str) -> str:
    """The URL a service uses: same host and database as the admin URL, the service's own role."""
    url = make_url(admin_url).set(
        drivername="postgresql+asyncpg", username=route.db_role, password=password
    )
    return url.render_as_string(hide_password=False)
