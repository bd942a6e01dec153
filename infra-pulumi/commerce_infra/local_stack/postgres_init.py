"""The Postgres init script: one login role and one schema per service, owned by that role only."""

from __future__ import annotations

from collections.abc import Iterable

from commerce_infra.local_stack.constants import DATABASE_NAME, GENERATED_HEADER, local_db_password
from commerce_platform.db_provisioning import EXTENSIONS
from commerce_platform.routing import SERVICES, ServiceRoute


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def render_init_sql(routes: Iterable[ServiceRoute] = SERVICES) -> str:
    """Same grants as commerce_platform.db_provisioning, as plain SQL for the image's init hook.

    The postgres image runs this once, on an empty data volume, so plain CREATE is enough here.
    """
    db = _ident(DATABASE_NAME)
    lines = [f"-- {GENERATED_HEADER}", "", "REVOKE ALL ON SCHEMA public FROM PUBLIC;"]
    lines += [f"CREATE EXTENSION IF NOT EXISTS {ext} WITH SCHEMA public;" for ext in EXTENSIONS]
    for route in routes:
        role, schema = _ident(route.db_role), _ident(route.schema)
        lines += [
            "",
            f"-- {route.name}: role {route.db_role} owns schema {route.schema} and nothing else",
            f"CREATE ROLE {role} WITH LOGIN PASSWORD {_literal(local_db_password(route))} "
            "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;",
            f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role};",
            f"REVOKE ALL ON DATABASE {db} FROM {role};",
            f"GRANT CONNECT ON DATABASE {db} TO {role};",
            f"GRANT USAGE ON SCHEMA public TO {role};",
            f"ALTER ROLE {role} SET search_path = {schema}, public;",
        ]
    return "\n".join(lines) + "\n"
