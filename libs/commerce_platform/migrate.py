"""`python -m commerce_platform.migrate <service>`: bring one service's schema to its newest revision.

What a service does at start in local mode, as a one-off command for deploys (in AWS an ECS task runs
it before the service rolls out, with the service's own DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path

from commerce_platform.database import Database
from commerce_platform.migrations import upgrade
from commerce_platform.routing import SERVICES, service
from commerce_platform.settings import PlatformSettings, SettingsError, load_settings


def migrations_dir(service_name: str) -> Path:
    """The service package's `migrations/` folder, found without importing the service's app."""
    spec = importlib.util.find_spec(service(service_name).module)
    if spec is None or spec.origin is None:
        raise SettingsError(f"the {service_name} service is not installed in this environment")
    return Path(spec.origin).parent / "migrations"


async def migrate(service_name: str) -> None:
    settings = load_settings(PlatformSettings)
    route = service(service_name)
    database = Database(settings.database_url, schema=route.schema, application_name=f"{route.name}-migrate")
    try:
        await upgrade(database, migrations_dir(service_name))
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one service's database migrations")
    parser.add_argument("service", choices=[r.name for r in SERVICES])
    args = parser.parse_args()
    try:
        asyncio.run(migrate(args.service))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"{args.service}: schema is at the newest revision")


if __name__ == "__main__":
    main()
