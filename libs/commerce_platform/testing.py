"""Helpers for tests that drive the running stack over HTTP: users, tokens, catalog fixtures.

Shared by every service's tests and the cross-service flows, so each test states its story, not
the plumbing of registering a user or creating a product.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

DEFAULT_PASSWORD = "Correct-Horse-Battery-9"


@dataclass(frozen=True)
class Shopper:
    email: str
    password: str
    token: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def login(http: aiohttp.ClientSession, user_url: str, email: str, password: str) -> dict[str, Any]:
    async with http.post(f"{user_url}/v1/auth/login", json={"email": email, "password": password}) as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
        assert resp.status == 200, body
        return body


async def new_shopper(http: aiohttp.ClientSession, user_url: str, *, name: str = "Test Shopper") -> Shopper:
    """Register a fresh user with a unique email and sign in."""
    email = f"shopper-{uuid.uuid4().hex[:12]}@example.com"
    async with http.post(
        f"{user_url}/v1/auth/register",
        json={"email": email, "password": DEFAULT_PASSWORD, "full_name": name},
    ) as resp:
        body = await resp.json(content_type=None)
        assert resp.status == 201, body
    tokens = await login(http, user_url, email, DEFAULT_PASSWORD)
    return Shopper(email=email, password=DEFAULT_PASSWORD, token=tokens["access_token"], user_id=body["id"])


async def admin_headers(http: aiohttp.ClientSession, user_url: str, email: str, password: str) -> dict[str, str]:
    tokens = await login(http, user_url, email, password)
    return bearer(tokens["access_token"])


async def create_category(
    http: aiohttp.ClientSession, product_url: str, admin: dict[str, str], *, parent_slug: str | None = None
) -> str:
    slug = f"cat-{uuid.uuid4().hex[:10]}"
    payload: dict[str, Any] = {"slug": slug, "name": slug.replace("-", " ").title()}
    if parent_slug:
        payload["parent_slug"] = parent_slug
    async with http.post(f"{product_url}/v1/categories", json=payload, headers=admin) as resp:
        assert resp.status == 201, await resp.text()
    return slug


async def create_product(
    http: aiohttp.ClientSession,
    product_url: str,
    admin: dict[str, str],
    *,
    category: str,
    price_cents: int = 2500,
    currency: str = "EUR",
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
    payload = {
        "sku": sku,
        "name": name or f"Test product {sku}",
        "description": "A product made by a test.",
        "price_cents": price_cents,
        "currency": currency,
        "category": category,
        "attributes": attributes or {},
    }
    async with http.post(f"{product_url}/v1/products", json=payload, headers=admin) as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
        assert resp.status == 201, body
        return body


async def problem(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with `status` and return its body."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json", resp.content_type
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body
