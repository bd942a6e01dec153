"""Fixtures for the cart service's tests: a small catalog made through the product service, and
direct access to the cart's schema (to look at what the service committed, and to run its SQL and
its purge against the real tables).

Tests reach these through fixtures only (with --import-mode=importlib a conftest is not importable).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from commerce_platform.database import Database
from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import admin_headers, create_category, create_product, schema_database, schema_pool


@pytest.fixture(scope="module")
async def catalog(stack: Stack, http: aiohttp.ClientSession) -> dict[str, Any]:
    admin = await admin_headers(http, stack.service_url("user"), stack.admin_email, stack.admin_password)
    product_url = stack.service_url("product")
    category = await create_category(http, product_url, admin)
    shoes = await create_product(http, product_url, admin, category=category, price_cents=4999)
    socks = await create_product(http, product_url, admin, category=category, price_cents=799)
    dollars = await create_product(http, product_url, admin, category=category, price_cents=100, currency="USD")
    return {"admin": admin, "shoes": shoes, "socks": socks, "dollars": dollars, "category": category}


@pytest.fixture(scope="session")
async def cart_db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """Administrator connections with the service's search_path, to look at what it committed."""
    async with schema_pool(stack.admin_database_url, "carts") as pool:
        yield pool


@pytest.fixture(scope="session")
async def cart_database(stack: Stack) -> AsyncIterator[Database]:
    """The service's own `Database` over the administrator's login: for running the service's code
    (the store's statements, the purge) directly against the real schema."""
    async with schema_database(stack.admin_database_url, "carts") as database:
        yield database
