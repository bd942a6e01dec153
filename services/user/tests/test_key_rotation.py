"""Rotating the signing key: tokens signed with the previous key stay valid while it is published.

The running stack signs with its key A. The tests build the user app in-process on the same database,
configured the way a rotation leaves it (current key B, A's public half as a previous key) or the way a
rotation without a previous key would (B alone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.testing import AsyncTestClient

from commerce_platform.db_provisioning import service_database_url
from commerce_platform.routing import SERVICES
from user_service.app import create_app
from user_service.settings import UserSettings
from user_service.tokens import SigningKey

if TYPE_CHECKING:
    from conftest import NewAccount

pytestmark = pytest.mark.stack

CLIENT = {"X-Forwarded-For": "2001:db8::77"}
UserApp = Callable[..., AbstractAsyncContextManager[AsyncTestClient[Any]]]


def public_pem(key: SigningKey) -> str:
    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def key_a(stack: Any) -> SigningKey:
    return SigningKey.from_pem(stack.jwt_private_key_path.read_bytes())


@pytest.fixture(scope="module")
def key_b() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey.from_pem(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.fixture
def user_app(stack: Any, key_b: SigningKey) -> UserApp:
    """The user service in-process on the stack's database, signing with key B."""
    route = next(r for r in SERVICES if r.name == "user")

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[AsyncTestClient[Any]]:
        settings = UserSettings(
            database_url=service_database_url(stack.admin_database_url, route, stack.secrets["db_password_user"]),
            run_migrations_on_start=False,
            run_mode="web",
            db_pool_size=2,
            access_log=False,
            aws_endpoint_url=stack.aws_endpoint_url,
            jwt_private_key=key_b.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            **overrides,
        )
        async with AsyncTestClient(create_app(settings)) as client:
            yield client

    return build


async def test_a_token_signed_with_the_previous_key_verifies_and_new_tokens_use_the_current_key(
    user_app: UserApp, new_account: NewAccount, key_a: SigningKey, key_b: SigningKey
) -> None:
    account = await new_account("rotation")  # signed by the stack, with key A
    assert jwt.get_unverified_header(account.access_token)["kid"] == key_a.kid

    async with user_app(jwt_previous_public_keys=public_pem(key_a)) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [key_b.kid, key_a.kid]
        assert all(set(k) >= {"kid", "alg", "use", "n", "e"} and "d" not in k for k in jwks["keys"])

        old = await client.get("/v1/users/me", headers={**CLIENT, "Authorization": f"Bearer {account.access_token}"})
        assert old.status_code == 200 and old.json()["id"] == account.id

        # A refresh token from before the rotation gets an access token signed with the current key.
        refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token}, headers=CLIENT)
        assert refreshed.status_code in (200, 201), refreshed.text
        signed_in = await client.post(
            "/v1/auth/login", json={"email": account.email, "password": account.password}, headers=CLIENT
        )
        assert signed_in.status_code in (200, 201), signed_in.text
        for fresh in (refreshed.json()["access_token"], signed_in.json()["access_token"]):
            assert jwt.get_unverified_header(fresh)["kid"] == key_b.kid
            me = await client.get("/v1/users/me", headers={**CLIENT, "Authorization": f"Bearer {fresh}"})
            assert me.status_code == 200


async def test_without_the_previous_key_a_token_signed_with_it_is_refused(
    user_app: UserApp, new_account: NewAccount, key_b: SigningKey
) -> None:
    account = await new_account("rotation")
    async with user_app() as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [key_b.kid]
        old = await client.get("/v1/users/me", headers={**CLIENT, "Authorization": f"Bearer {account.access_token}"})
        assert old.status_code == 401
