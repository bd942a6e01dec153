"""Fixtures for the user service's tests: an HTTP client for the running service and fresh accounts.

Tests reach these helpers through fixtures only (with --import-mode=importlib a conftest is not
importable). Every test signs up its own accounts (unique emails) and sends its own client address in
X-Forwarded-For, so tests neither share state nor trip each other's login throttles, and can run
in any order or in parallel.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from commerce_platform.testing import Reply

STRONG_PASSWORD = "Correct-Horse-Battery-9"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def documentation_ip() -> str:
    """A random address in 2001:db8::/32, the range reserved for documentation: never a real client."""
    return "2001:db8::" + ":".join(secrets.token_hex(2) for _ in range(3))


@dataclass
class UserApi:
    """Talks to the user service at `base_url` as one client machine (`client_ip`)."""

    http: aiohttp.ClientSession
    base_url: str
    client_ip: str = field(default_factory=documentation_ip)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"X-Forwarded-For": self.client_ip, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.http.request(method, self.base_url + path, json=json, data=data, headers=sent) as resp:
            raw = await resp.read()
            content_type = resp.headers.get("content-type", "")
            body = await resp.json(content_type=None) if raw and "json" in content_type else raw
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)

    unique_email = staticmethod(unique_email)

    def via(self, base_url: str) -> UserApi:
        """The same client talking to another address (the gateway, say)."""
        return UserApi(self.http, base_url, self.client_ip)

    def another_client(self) -> UserApi:
        """The same service seen from a different client machine."""
        return UserApi(self.http, self.base_url)

    async def register(self, email: str, password: str = STRONG_PASSWORD, full_name: str = "Ann Lee") -> Reply:
        return await self.call(
            "POST", "/v1/auth/register", json={"email": email, "password": password, "full_name": full_name}
        )

    async def login(self, email: str, password: str = STRONG_PASSWORD) -> Reply:
        return await self.call("POST", "/v1/auth/login", json={"email": email, "password": password})


@dataclass
class Account:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str


@pytest.fixture
def api(stack: Any, http: aiohttp.ClientSession) -> UserApi:
    return UserApi(http, stack.service_url("user"))


NewAccount = Callable[..., Awaitable[Account]]


@pytest.fixture
def new_account(api: UserApi) -> NewAccount:
    """Sign up and sign in a fresh customer."""

    async def create(tag: str = "user", password: str = STRONG_PASSWORD) -> Account:
        email = unique_email(tag)
        registered = await api.register(email, password)
        assert registered.status == 201, registered.body
        tokens = await api.login(email, password)
        assert tokens.status == 200, tokens.body
        return Account(
            registered.body["id"], email, password, tokens.body["access_token"], tokens.body["refresh_token"]
        )

    return create


@pytest.fixture
async def admin_token(stack: Any, api: UserApi) -> str:
    reply = await api.login(stack.admin_email, stack.admin_password)
    assert reply.status == 200, reply.body
    token: str = reply.body["access_token"]
    return token
