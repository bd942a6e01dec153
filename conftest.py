"""Test harness shared by every test folder: one local stack per test session, started on demand.

The stack is the same one `make dev` runs (embedded Postgres, moto, every service as its own
uvicorn process, the gateway), shifted to a free block of ports so it never collides with a
developer's running stack, with throwaway data.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from commerce_platform.devstack.launcher import AWS_PORT, POSTGRES_PORT, SMTP_PORT, STRIPE_PORT, Stack, StackConfig
from commerce_platform.devstack.processes import port_is_free
from commerce_platform.routing import GATEWAY_PORT, SERVICES
from commerce_platform.testing import DEFAULT_PASSWORD, login_token

TEST_ADMIN_EMAIL = "admin@example.com"
TEST_ADMIN_PASSWORD = "Test-Operator-Secret-1"


def _free_port_offset() -> int:
    base_ports = [GATEWAY_PORT, POSTGRES_PORT, AWS_PORT, STRIPE_PORT, SMTP_PORT, *(route.port for route in SERVICES)]
    # Start at a random block: two test runs on one machine must not race for the same ports. Stay
    # below 32768, where Linux hands out ephemeral ports to outgoing connections.
    blocks = list(range(10000, 24000, 500))
    start = random.randrange(len(blocks))
    for offset in blocks[start:] + blocks[:start]:
        if all(port_is_free(port + offset) for port in base_ports):
            return offset
    raise RuntimeError("no free block of ports for the test stack")


@pytest.fixture(scope="session")
def traces_file() -> Iterator[Path]:
    """Every process of the test stack appends its finished spans here as JSON lines."""
    folder = Path(tempfile.mkdtemp(prefix="commerce-test-traces-"))
    yield folder / "spans.jsonl"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def stack(traces_file: Path) -> AsyncIterator[Stack]:
    # Not under pytest's basetemp: pytest prunes old numbered dirs, which may belong to another
    # test run on the same machine whose Postgres is still using them.
    data_dir = Path(tempfile.mkdtemp(prefix="commerce-test-stack-"))
    config = StackConfig(
        data_dir=data_dir,
        port_offset=_free_port_offset(),
        durable=False,
        admin_email=TEST_ADMIN_EMAIL,
        admin_password=TEST_ADMIN_PASSWORD,
        extra_env={"OTEL_TRACES_FILE": str(traces_file), "LOG_LEVEL": "INFO"},
    )
    running = Stack(config, progress=lambda _message: None)
    try:
        await running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def admin_token(stack: Stack, http: aiohttp.ClientSession) -> str:
    """An access token of the bootstrap administrator."""
    return await login_token(http, stack.service_url("user"), stack.admin_email, stack.admin_password)


@pytest.fixture(scope="session")
async def customer_token(stack: Stack, http: aiohttp.ClientSession) -> str:
    """An access token of one ordinary customer, shared by a test session's read-only checks."""
    user_url = stack.service_url("user")
    email = f"customer-{uuid.uuid4().hex[:12]}@example.com"
    async with http.post(
        f"{user_url}/v1/auth/register",
        json={"email": email, "password": DEFAULT_PASSWORD, "full_name": "Sam Shopper"},
    ) as resp:
        assert resp.status == 201, await resp.text()
    return await login_token(http, user_url, email, DEFAULT_PASSWORD)


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
