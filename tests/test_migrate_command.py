"""`python -m commerce_platform.migrate <service>`, the deploy's one-off migration task, against the stack."""

import asyncio
import os
import subprocess
import sys

from commerce_platform.db_provisioning import service_database_url
from commerce_platform.devstack.launcher import Stack
from commerce_platform.routing import service


async def test_migrate_brings_a_service_schema_to_head_and_is_repeatable(stack: Stack) -> None:
    route = service("cart")
    url = service_database_url(stack.admin_database_url, route, stack.secrets["db_password_cart"])
    env = {**os.environ, "DATABASE_URL": url}
    for _ in range(2):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "commerce_platform.migrate", "cart"], env=env, capture_output=True, text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "cart: schema is at the newest revision" in done.stdout


def test_migrate_names_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "commerce_platform.migrate", "cart"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr
